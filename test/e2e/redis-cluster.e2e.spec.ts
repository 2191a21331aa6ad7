/**
 * Two Switchboard instances on a Redis Cluster (3 masters with a replica each, started here):
 * every topic, published with a plain PUBLISH (as Cells does) and with SPUBLISH; chat in two
 * rooms of different slots; pushes to a user, a room and a session across the instances; a
 * resume on the other instance; the revocation of a deleted user. Then the master of the
 * history's slot is SIGKILLed and its replica promoted, and all of it again.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Cluster } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Client, startInstance, testChannels, token, ws, type Frame, type Instance } from '../support/harness.js';
import { joinRoom } from '../support/chat.js';
import { ClusterTopology, redisCall, until } from '../support/redis-topology.js';
import { resumed, task, taskId } from '../support/resume.js';

jest.setTimeout(120_000);

const W1 = ws('w1', 'projects', 'pydiods1/projects');

describe('two instances on a Redis Cluster (3 masters, 3 replicas)', () => {
  let cluster: ClusterTopology;
  let backend: Cluster;
  let a: Instance, b: Instance;
  let ch: Record<string, string>;
  const clients: Client[] = [];
  let n = 0;
  const mark = () => `${++n}-${randomBytes(2).toString('hex')}`;
  const alice = () => token({ name: 'alice', roles: ['r-alice'], workspaces: [W1] });
  const bob = () => token({ name: 'bob', workspaces: [W1] });

  const connect = async (instance: Instance, path: string, jwt: string) => {
    const c = await Client.subscribed(`${instance.wsUrl}${path}`, jwt);
    clients.push(c);
    return c;
  };
  const slotOf = async (key: string) => Number(await backend.cluster('KEYSLOT', key));
  /** Publishes as a backend does: plain PUBLISH, or SPUBLISH (sharded) to spread the load. */
  const publish = (channel: string, data: unknown, sharded = false) => (sharded ? backend.spublish(channel, JSON.stringify(data)) : backend.publish(channel, JSON.stringify(data)));

  beforeAll(async () => {
    cluster = await ClusterTopology.start();
    ch = testChannels();
    const env = { ...ch, ...cluster.env, HISTORY_LEASE_MS: '900', PUSH_OPEN_ROOMS: 'open/*' };
    [a, b] = [await startInstance(env), await startInstance(env)];
    backend = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
    backend.on('error', () => undefined);
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await a?.close();
    await b?.close();
    backend?.disconnect();
    await cluster?.stop();
  });

  /** Everything a deployment does, across the two instances; `label` tells the two rounds apart. */
  async function everything(label: string) {
    const aliceA = await connect(a, '/ws', alice());
    const bobB = await connect(b, '/ws', bob());
    const aliceId = aliceA.frames[0].sessionId as string;
    for (const sharded of [false, true]) {
      const m = `${label}-${mark()}`;
      // tree and meta: both see W1; a task to alice only; an IDM role event to alice's role; activity to bob's inbox.
      await publish(ch.CHANNEL_TREE, { Type: 'CREATE', Target: { Uuid: `n-${m}`, Path: `pydiods1/projects/${m}.txt` } }, sharded);
      await publish(ch.CHANNEL_META, { Type: 'UPDATE_META', Target: { Uuid: `u-${m}`, Path: `pydiods1/projects/${m}.meta`, MetaStore: { tag: '"x"' } } }, sharded);
      await publish(ch.CHANNEL_TASKS, task(`t-${m}`), sharded);
      await publish(ch.CHANNEL_IDM, { Type: 'UPDATE', Role: { Uuid: 'r-alice', Label: m } }, sharded);
      await publish(ch.CHANNEL_ACTIVITY, { OwnerType: 'USER', OwnerId: 'bob', BoxName: 'inbox', Activity: { actor: { id: 'alice' }, object: { name: `pydiods1/projects/${m}` } } }, sharded);
      const path = (f: Frame) => (f.Target as { Path?: string } | undefined)?.Path;
      for (const c of [aliceA, bobB]) {
        await c.next((f) => path(f) === `projects/${m}.txt`, 10_000);
        await c.next((f) => path(f) === `projects/${m}.meta`, 10_000);
      }
      await aliceA.next((f) => taskId(f) === `t-${m}`);
      await aliceA.next((f) => f['@type'] === 'idm' && (f.Role as { Label?: string }).Label === m);
      await bobB.next((f) => f['@type'] === 'activity' && (f.Activity as { object: { name: string } }).object.name === m);
    }
    // Pushes: to bob (on B), to a room with a member on each instance, to alice's session (on A).
    for (const [c, room] of [[aliceA, `open/${label}`], [bobB, `open/${label}`]] as const) {
      c.send({ '@type': 'joinRoom', room });
      await c.next((f) => f['@type'] === 'room' && f.room === room && f.joined === true);
    }
    const m = `${label}-${mark()}`;
    await publish(ch.CHANNEL_PUSH, { pushToUser: 'bob', payload: { user: m } });
    await publish(ch.CHANNEL_PUSH, { pushToRoom: `open/${label}`, payload: { room: m } }, true);
    await publish(ch.CHANNEL_PUSH, { pushToSession: aliceId, payload: { session: m } });
    await bobB.next((f) => f.user === m);
    for (const c of [aliceA, bobB]) await c.next((f) => f.room === m);
    await aliceA.next((f) => f.session === m);
    expect(bobB.frames.filter((f) => f.session === m)).toEqual([]);

    // Chat: two rooms, alice on A and bob on B in both; their keys are in other slots than each other's.
    const aliceChat = await connect(a, '/chat', alice());
    const bobChat = await connect(b, '/chat', bob());
    const rooms = [];
    for (const name of ['one', 'two']) {
      const room = await joinRoom(aliceChat, { Type: 'GLOBAL', RoomTypeObject: `${label}-${name}` });
      await joinRoom(bobChat, { Type: 'GLOBAL', RoomTypeObject: `${label}-${name}` });
      rooms.push(room);
    }
    expect(await slotOf(`{${rooms[0].Uuid}}`)).not.toBe(await slotOf(`{${rooms[1].Uuid}}`));
    for (const room of rooms) {
      const text = `${label}-${mark()}`;
      aliceChat.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: text } });
      await bobChat.next((f) => f.Message === text && f.RoomUuid === room.Uuid, 10_000);
    }

    // A resume on the other instance gets what alice missed.
    const t0 = `${label}-${mark()}`;
    await publish(ch.CHANNEL_TASKS, task(t0));
    const from = (await aliceA.next((f) => taskId(f) === t0))['@offset'];
    const missed = [`${label}-${mark()}`, `${label}-${mark()}`];
    for (const id of missed) await publish(ch.CHANNEL_TASKS, task(id), true);
    await aliceA.next((f) => taskId(f) === missed[1]);
    const r = await resumed(`${b.wsUrl}/ws`, alice(), from);
    clients.push(r.client);
    expect(r.resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 2 });

    // A deleted user's older token is refused on both instances.
    const dave = `dave-${label}`;
    const old = token({ name: dave, sub: `uuid-${dave}` }, { expiresIn: 3600 });
    const daveOnA = await connect(a, '/ws', old);
    await publish(ch.CHANNEL_IDM, { Type: 'DELETE', User: { Login: dave, Uuid: `uuid-${dave}` } });
    expect((await daveOnA.closed).code).toBe(4403);
    for (const instance of [a, b]) {
      const again = await Client.connect(`${instance.wsUrl}/ws`);
      clients.push(again);
      again.send({ '@type': 'subscribe', jwt: old });
      expect(await again.next((f) => f['@type'] === 'error')).toMatchObject({ code: 'user_removed' });
    }
    return { aliceA, bobB };
  }

  it('delivers every topic, chat, pushes, resumes and revocations across instances; and again after the history\'s master dies', async () => {
    const first = await everything('before');
    const slot = await slotOf(ch.HISTORY_KEY);
    const killedAt = Date.now();
    await cluster.killMasterOf(slot);
    // Delivery comes back by itself: tasks until one arrives.
    await until('delivery again', async () => {
      const id = `probe-${mark()}`;
      await publish(ch.CHANNEL_TASKS, task(id)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 150));
      return first.aliceA.frames.some((f) => taskId(f) === id);
    }, 30_000);
    console.log(`cluster failover of the history's master: delivery paused ${Date.now() - killedAt} ms`);
    // What is SPUBLISHed to a shard while its subscribers move to its new master is lost (pub/sub,
    // docs/protocol.md 11): the second round starts once both instances have every channel again.
    const channels = ['TREE', 'META', 'TASKS', 'IDM', 'ACTIVITY', 'PUSH', 'CHAT'].map((name) => ch[`CHANNEL_${name}`]);
    await until('every channel shard-subscribed by both instances again', async () => {
      for (const channel of channels) {
        const master = await cluster.masterOf(await slotOf(channel));
        const [, subscribers] = (await redisCall(master.port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
        if (Number(subscribers) < 2) return false;
      }
      return true;
    }, 20_000);
    for (const c of [first.aliceA, first.bobB]) expect(c.socket.readyState).toBe(c.socket.OPEN);
    await everything('after');
  });
});
