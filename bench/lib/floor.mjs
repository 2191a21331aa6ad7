/**
 * The floor: Switchboard's job on bare `ws` with nothing else (no Nest, no flow control, no
 * metrics, no limits). One WebSocketServer on /ws; frames:
 *   {"@type":"subscribe","jwt":...}          verify, index the session under its workspaces' roots,
 *                                            reply {"@type":"subscribed"}
 *   {"@type":"join","room":R}                join chat room R, reply {"@type":"joined"}
 *   {"@type":"POST","Message":{RoomUuid,Message}}  store + publish on the chat channel
 * A Redis subscriber on the tree channel parses each node event and sends each workspace's
 * frame (built and encoded once) to the sessions that hold it; on the chat channel, it sends
 * the message to the room's members.
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { RootIndex, chatMessage, membersOf, storeMessage, tokenVerifier } from './same-job.mjs';

const SUBSCRIBED = JSON.stringify({ '@type': 'subscribed' });
const JOINED = JSON.stringify({ '@type': 'joined' });

export async function startFloor(opts) {
  const verify = tokenVerifier(opts.secret);
  const index = new RootIndex();
  /** chat room -> sockets */
  const rooms = new Map();
  const redis = new Redis(opts.redisUrl);
  const sub = new Redis(opts.redisUrl);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws', perMessageDeflate: false });
  const listening = once(wss, 'listening');

  wss.on('connection', (socket) => {
    const session = { socket, login: undefined, entries: [], rooms: [] };
    socket.on('error', () => undefined);
    socket.on('close', () => {
      index.remove(session.entries, socket);
      for (const r of session.rooms) rooms.get(r)?.delete(socket);
    });
    socket.on('message', async (data) => {
      let frame;
      try {
        frame = JSON.parse(data);
      } catch {
        return;
      }
      try {
        switch (frame['@type']) {
          case 'subscribe': {
            const claims = await verify(frame.jwt);
            session.login = claims.name;
            index.remove(session.entries, socket);
            session.entries = (claims.workspaces ?? []).flatMap((ws) => index.add(ws, socket));
            return socket.send(SUBSCRIBED);
          }
          case 'join': {
            if (!session.login) return;
            let members = rooms.get(frame.room);
            if (!members) rooms.set(frame.room, (members = new Set()));
            members.add(socket);
            session.rooms.push(frame.room);
            return socket.send(JOINED);
          }
          case 'POST': {
            if (!session.login || !session.rooms.includes(frame.Message?.RoomUuid)) return;
            await storeMessage(redis, opts.historyKey, chatMessage(frame.Message.RoomUuid, frame.Message.Message, session.login), opts.chatChannel);
            return;
          }
        }
      } catch (err) {
        socket.send(JSON.stringify({ '@type': 'error', error: String(err?.message ?? err) }));
      }
    });
  });

  sub.on('message', (channel, message) => {
    let e;
    try {
      e = JSON.parse(message);
    } catch {
      return;
    }
    if (channel === opts.treeChannel) {
      for (const { entries, frame } of index.audiences(e)) {
        const data = Buffer.from(JSON.stringify(frame));
        for (const socket of membersOf(entries)) socket.send(data);
      }
    } else if (channel === opts.chatChannel) {
      const members = rooms.get(e.RoomUuid);
      if (!members) return;
      const data = Buffer.from(message);
      for (const socket of members) socket.send(data);
    }
  });
  await sub.subscribe(opts.treeChannel, opts.chatChannel);
  await listening;
  return {
    port: wss.address().port,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
      await Promise.all([sub.quit(), redis.quit()]);
    },
  };
}
