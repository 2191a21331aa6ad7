/**
 * Two Switchboard instances on Redis Sentinel (1 master, 1 replica, 3 sentinels, started here),
 * events, pushes and chat flowing, and the master SIGKILLed (docs/protocol.md 9, failover):
 * sockets are kept, delivery pauses and resumes by itself; when the replica had every write,
 * an offset of before the failover resumes; when the failover lost a write, every offset of
 * before it answers `recovered:false` (a new epoch), never a gap read as success.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { Client, startInstance, testChannels, token, type Frame, type Instance } from '../support/harness.js';
import { joinRoom } from '../support/chat.js';
import { SentinelTopology, until } from '../support/redis-topology.js';
import { resumed, task, taskId } from '../support/resume.js';

jest.setTimeout(90_000);

describe('two instances on Redis Sentinel, through a master failover', () => {
  let topology: SentinelTopology | undefined;
  const instances: Instance[] = [];
  const clients: Client[] = [];
  let backend: Redis | undefined;

  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    for (const i of instances.splice(0)) await i.close();
    backend?.disconnect();
    await topology?.stop();
  });

  /** Two instances, alice on A (/ws and /chat), bob on B (/ws and /chat) in one chat room. */
  async function setUp() {
    topology = await SentinelTopology.start();
    const ch = testChannels();
    const env = { ...ch, ...topology.env, HISTORY_LEASE_MS: '900' };
    const [a, b] = [await startInstance(env), await startInstance(env)];
    instances.push(a, b);
    // A backend that finds the master through the sentinels, as Cells' services would be configured.
    backend = new Redis({ sentinels: topology.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), name: SentinelTopology.NAME });
    backend.on('error', () => undefined);
    const connect = async (instance: Instance, path: string, name: string) => {
      const c = await Client.subscribed(`${instance.wsUrl}${path}`, token({ name }));
      clients.push(c);
      return c;
    };
    const alice = await connect(a, '/ws', 'alice');
    const bob = await connect(b, '/ws', 'bob');
    const aliceChat = await connect(a, '/chat', 'alice');
    const bobChat = await connect(b, '/chat', 'bob');
    const room = await joinRoom(aliceChat, { Type: 'GLOBAL', RoomTypeObject: 'failover' });
    await joinRoom(bobChat, { Type: 'GLOBAL', RoomTypeObject: 'failover' });
    let n = 0;
    /**
     * Alice posts `text` and gets her `ack`. A POST that reached Redis during the failover is
     * answered `unavailable` (docs/protocol.md 9): she sends it again, as a client does, until `timeoutMs`.
     */
    const post = async (text: string, timeoutMs: number) => {
      const until = Date.now() + timeoutMs;
      for (let attempt = 1; ; attempt++) {
        const id = `${text}#${attempt}`;
        aliceChat.send({ '@type': 'POST', id, Message: { RoomUuid: room.Uuid, Message: text } });
        const answer = await aliceChat.next((f) => f.id === id, Math.max(1, until - Date.now()));
        if (answer['@type'] === 'ack') return;
        expect(answer).toMatchObject({ '@type': 'error', code: 'unavailable' });
        if (attempt > 1) console.log(`chat post ${text}: refused ${attempt} times during the failover`);
      }
    };
    /** One task for alice, one push for bob, one chat post from alice: answers once each arrived where it should. */
    const flowing = async (timeoutMs = 5000): Promise<Frame> => {
      const id = `f-${++n}`;
      await backend!.publish(ch.CHANNEL_TASKS, JSON.stringify(task(id)));
      await backend!.publish(ch.CHANNEL_PUSH, JSON.stringify({ pushToUser: 'bob', payload: { id } }));
      await post(id, timeoutMs);
      const got = await alice.next((f) => taskId(f) === id, timeoutMs);
      await bob.next((f) => f.id === id, timeoutMs);
      await bobChat.next((f) => f.Message === id, timeoutMs);
      return got;
    };
    /** Publishes tasks every 150 ms until alice gets one; answers how long it took. */
    const pause = async (since: number): Promise<number> => {
      let arrived = 0;
      await until('delivery again', async () => {
        const id = `p-${++n}`;
        await backend!.publish(ch.CHANNEL_TASKS, JSON.stringify(task(id))).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 150));
        if (alice.frames.some((f) => String(taskId(f)).startsWith('p-'))) arrived = Date.now();
        return arrived > 0;
      }, 30_000);
      return arrived - since;
    };
    const readyz = async (i: Instance) => (await fetch(`${i.url}/readyz`)).status;
    return { ch, a, b, alice, bob, flowing, pause, readyz };
  }

  it('keeps the sockets, delivers again within seconds, and resumes an offset of before when the replica had every write', async () => {
    const { a, b, alice, bob, flowing, pause, readyz } = await setUp();
    const before = await flowing();
    const master = await topology!.master();
    await until('the replica has every write', async () => {
      const m = await master.info('replication');
      const r = await topology!.nodes.find((n) => n !== master)!.info('replication');
      return m.master_repl_offset === r.slave_repl_offset;
    });
    const killedAt = Date.now();
    const statuses = new Set<number>();
    const watching = setInterval(() => void readyz(a).then((s) => statuses.add(s), () => undefined), 100);
    await topology!.killMaster();
    const pausedMs = await pause(killedAt);
    clearInterval(watching);
    console.log(`sentinel failover (no write lost): delivery paused ${pausedMs} ms; /readyz during it: ${[...statuses].join(', ')}`);
    expect(pausedMs).toBeLessThan(20_000);
    await flowing(10_000);
    for (const c of [alice, bob]) expect(c.socket.readyState).toBe(c.socket.OPEN);
    // Nothing was lost: the offset of before the failover still resumes, on either instance.
    for (const instance of [a, b]) {
      const r = await resumed(`${instance.wsUrl}/ws`, token({ name: 'alice' }), before['@offset']);
      clients.push(r.client);
      expect(r.resumed).toMatchObject({ '@type': 'resumed', recovered: true });
    }
    expect(await readyz(a)).toBe(200);
  });

  it('refuses every offset of before (recovered:false) when the failover lost a write, and delivers under the new epoch', async () => {
    const { b, alice, flowing, pause } = await setUp();
    const before = await flowing();
    const master = await topology!.master();
    const replica = topology!.nodes.find((n) => n !== master)!;
    // The replica is frozen and cut off: the next write reaches the master alone, which then dies.
    replica.signal('SIGSTOP');
    await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    const lost = await flowing();
    const killedAt = Date.now();
    const promoted = topology!.killMaster();
    setTimeout(() => replica.signal('SIGCONT'), 200);
    await promoted;
    const pausedMs = await pause(killedAt);
    console.log(`sentinel failover (a write lost): delivery paused ${pausedMs} ms`);
    const after = await flowing(10_000);
    const epoch = (f: Frame) => String(f['@offset']).split('@')[1];
    expect(epoch(after)).not.toBe(epoch(before));
    for (const from of [before['@offset'], lost['@offset']]) {
      const r = await resumed(`${b.wsUrl}/ws`, token({ name: 'alice' }), from);
      clients.push(r.client);
      expect(r.resumed).toEqual({ '@type': 'resumed', recovered: false, reason: 'other_epoch' });
    }
    // What the stream still holds was delivered before the failover: nothing is delivered twice.
    const ids = alice.frames.map(taskId).filter((id): id is string => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    expect(alice.socket.readyState).toBe(alice.socket.OPEN);
  });
});
