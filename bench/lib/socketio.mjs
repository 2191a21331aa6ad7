/**
 * What a Node team would write instead: Socket.IO 4.8 with @socket.io/redis-adapter, the same job.
 * Events (client -> server): `subscribe {jwt}` (verify, join a room per workspace, emit
 * `subscribed`), `join {room}` (join the chat room, emit `joined`), `post {room, message}`
 * (store, then `io.to(room).emit('message', msg)`: the adapter delivers it here and publishes
 * it for the other nodes, as Switchboard publishes a chat message).
 * A Redis subscriber on the tree channel parses each node event, finds the workspaces whose
 * root holds the node (the same map as the floor) and emits each workspace's frame to its room
 * with `io.local`: every node subscribes to the backend channel itself, so the adapter must not
 * forward the event to the other nodes too.
 * No HTTP long-polling (transports: websocket only), no compression; pings as rare as the
 * Switchboard under test's (PING_INTERVAL_MS=600000).
 */
import { createAdapter } from '@socket.io/redis-adapter';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { RootIndex, chatMessage, storeMessage, tokenVerifier } from './same-job.mjs';

export async function startSocketIo(opts) {
  const verify = tokenVerifier(opts.secret);
  // Rooms hold the sockets; the index only maps roots to workspaces (one member: the room name).
  const index = new RootIndex();
  const known = new Set();
  const redis = new Redis(opts.redisUrl);
  const sub = new Redis(opts.redisUrl);
  const adapterPub = new Redis(opts.redisUrl);
  const adapterSub = adapterPub.duplicate();
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    pingInterval: 600_000,
    pingTimeout: 60_000,
    adapter: createAdapter(adapterPub, adapterSub, { key: opts.adapterKey }),
  });

  io.on('connection', (socket) => {
    socket.on('subscribe', async ({ jwt } = {}) => {
      try {
        const claims = await verify(jwt);
        socket.data.login = claims.name;
        for (const ws of claims.workspaces ?? []) {
          if (!known.has(ws.uuid)) {
            known.add(ws.uuid);
            index.add(ws, `ws:${ws.uuid}`);
          }
          socket.join(`ws:${ws.uuid}`);
        }
        socket.emit('subscribed');
      } catch (err) {
        socket.emit('denied', String(err?.message ?? err));
      }
    });
    socket.on('join', ({ room } = {}) => {
      if (!socket.data.login) return;
      socket.join(`chat:${room}`);
      socket.emit('joined');
    });
    socket.on('post', async ({ room, message } = {}) => {
      if (!socket.data.login || !socket.rooms.has(`chat:${room}`)) return;
      const msg = chatMessage(room, message, socket.data.login);
      await storeMessage(redis, opts.historyKey, msg);
      io.to(`chat:${room}`).emit('message', msg);
    });
  });

  sub.on('message', (channel, message) => {
    let e;
    try {
      e = JSON.parse(message);
    } catch {
      return;
    }
    for (const { ws, frame } of index.audiences(e)) io.local.to(`ws:${ws.uuid}`).emit('node', frame);
  });
  await sub.subscribe(opts.treeChannel);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    port: http.address().port,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise((r) => io.close(r));
      await Promise.all([sub.quit(), redis.quit(), adapterPub.quit(), adapterSub.quit()].map((p) => p.catch(() => undefined)));
    },
  };
}
