import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { API_KEY, Backend, Client, REDIS_URL, sleep, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';
import { OFFSET_PATTERN, replayOf, resumed, task, taskId } from '../support/resume.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
const W2 = ws('w2', 'common', 'pydiods1/common');

/** Waits until `client` has a task frame with this id; returns it. */
const got = (client: Client, id: string, timeoutMs = 5000) => client.next((f) => taskId(f) === id, timeoutMs);

describe('resume over a real Redis, two instances (PROTOCOL 6)', () => {
  let a: Instance, b: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  const alice = token({ name: 'alice', workspaces: [W1, W2] });
  const open: Client[] = [];
  const keep = (c: Client) => (open.push(c), c);

  beforeAll(async () => {
    ch = testChannels();
    // Fast sessions: the race test sends hundreds of frames to one client.
    const env = { ...ch, REDIS_URL, SESSION_RATE: '100000', SESSION_BURST: '10000', SESSION_QUEUE_MAX: '5000', NODE_BATCH_WINDOW_MS: '1000', NODE_BATCH_MAX_WAIT_MS: '2000' };
    a = await startInstance(env);
    b = await startInstance(env);
    backend = new Backend();
    await waitSubscribed(backend, ch.CHANNEL_TASKS, 2);
    // Both instances read the history before the first publish.
    for (const i of [a, b]) for (let n = 0; n < 100 && (await fetch(`${i.url}/readyz`)).status !== 200; n++) await sleep(50);
  });
  afterAll(async () => {
    open.forEach((c) => c.close());
    await backend.close();
    await a.close();
    await b.close();
  });

  it('numbers each event the same on every instance', async () => {
    const onA = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    const onB = keep(await Client.subscribed(`${b.wsUrl}/ws`, alice));
    for (const id of ['same-1', 'same-2', 'same-3']) await backend.publish(ch.CHANNEL_TASKS, task(id));
    for (const id of ['same-1', 'same-2', 'same-3']) {
      const [fa, fb] = [await got(onA, id), await got(onB, id)];
      expect(fa['@offset']).toMatch(OFFSET_PATTERN);
      expect(fa['@offset']).toBe(fb['@offset']);
    }
    const offsets = ['same-1', 'same-2', 'same-3'].map((id) => onA.frames.find((f) => taskId(f) === id)!['@offset']);
    expect(new Set(offsets).size).toBe(3);
  });

  it.each([
    ['the same instance', () => a],
    ['another instance', () => b],
  ])('replays what was missed on %s, in order, between the ack and `resumed`, then goes live', async (_name, target) => {
    const tag = Math.random().toString(36).slice(2, 8);
    const first = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-0`));
    const last = (await got(first, `${tag}-0`))['@offset'];
    first.close();
    const missed = [1, 2, 3, 4].map((n) => `${tag}-${n}`);
    for (const id of missed) await backend.publish(ch.CHANNEL_TASKS, task(id));
    // A witness on A has them all: they are in the history.
    const witness = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-w`));
    await got(witness, `${tag}-w`);

    const { client, resumed: r } = await resumed(`${target().wsUrl}/ws`, alice, last);
    keep(client);
    expect(client.frames[0]['@type']).toBe('subscribed');
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 5 });
    expect(replayOf(client).map(taskId)).toEqual([...missed, `${tag}-w`]);
    // The offsets replayed are those the live sessions got.
    expect(replayOf(client).at(-1)!['@offset']).toBe(witness.frames.find((f) => taskId(f) === `${tag}-w`)!['@offset']);
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-live`));
    await got(client, `${tag}-live`);
    expect(client.frames.filter((f) => taskId(f)?.startsWith(tag)).map(taskId)).toEqual([...missed, `${tag}-w`, `${tag}-live`]);
  });

  it('gives the position in the ack, so that a client dropped before its first event resumes from it (also on another instance)', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const witness = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-before`));
    const before = (await got(witness, `${tag}-before`))['@offset'];
    const fresh = await Client.subscribed(`${a.wsUrl}/ws`, alice);
    const position = fresh.frames[0]['@offset'];
    fresh.close();
    // Where A stood as the session went live: the event of before, nothing of later.
    expect(position).toBe(before);
    const missed = [1, 2].map((n) => `${tag}-${n}`);
    for (const id of missed) await backend.publish(ch.CHANNEL_TASKS, task(id));
    await got(witness, `${tag}-2`);
    const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, alice, position);
    keep(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 2 });
    expect(replayOf(client).map(taskId)).toEqual(missed);
    // A resume's ack carries no position: the replay and the frames after it say where the client is.
    expect(client.frames[0]['@offset']).toBeUndefined();
  });

  it('answers recovered:false at once for garbage, another epoch, the future or a trimmed offset, and stays live', async () => {
    const probe = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task('probe'));
    const offset = (await got(probe, 'probe'))['@offset'] as string;
    const [id, epoch] = offset.split('@');
    const [ms] = id.split('-');
    const reasons: [unknown, string][] = [
      ['garbage', 'not_an_offset'],
      [42, 'not_an_offset'],
      [{ x: 1 }, 'not_an_offset'],
      ['', 'not_an_offset'],
      [`${id}@${epoch === 'aaaaaaaa' ? 'bbbbbbbb' : 'aaaaaaaa'}`, 'other_epoch'],
      [`${Number(ms) + 3_600_000}-0@${epoch}`, 'future'],
      [id, 'not_an_offset'],
    ];
    const cases = reasons.map(([resumeFrom]) => resumeFrom);
    for (const [resumeFrom, reason] of reasons) {
      const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, alice, resumeFrom);
      keep(client);
      expect(r).toEqual({ '@type': 'resumed', recovered: false, reason });
      expect(client.frames.map((f) => f['@type'])).toEqual(['subscribed', 'resumed']);
      const live = `live-${String(cases.indexOf(resumeFrom))}`;
      await backend.publish(ch.CHANNEL_TASKS, task(live));
      await got(client, live);
      expect(client.socket.readyState).toBe(client.socket.OPEN);
    }
  });

  it('refuses an offset whose entries were trimmed from the history', async () => {
    const probe = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task('trim-0'));
    const offset = (await got(probe, 'trim-0'))['@offset'];
    await backend.publish(ch.CHANNEL_TASKS, task('trim-1'));
    await backend.publish(ch.CHANNEL_TASKS, task('trim-2'));
    await got(probe, 'trim-2');
    // As MAXLEN would: the oldest entries go, trim-0 and what came before it among them.
    const redis = new Redis(REDIS_URL);
    await redis.xtrim(ch.HISTORY_KEY, 'MAXLEN', 1);
    redis.disconnect();
    const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, alice, offset);
    keep(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: false, reason: 'trimmed' });
  });

  it('replays through the new token: nothing outside its workspaces', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const del = (ws: 'projects' | 'common', n: number) => ({ Type: 'DELETE', Source: { Uuid: `${tag}-${ws}-${n}`, Path: `pydiods1/${ws}/${tag}-${n}.txt` } });
    const uuidOf = (f: Frame) => (f.Source as { Uuid?: string } | undefined)?.Uuid;
    const both = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TREE, del('projects', 0));
    const from = (await both.next((f) => uuidOf(f) === `${tag}-projects-0`))['@offset'];
    for (let n = 1; n <= 3; n++) {
      await backend.publish(ch.CHANNEL_TREE, del('common', n));
      await backend.publish(ch.CHANNEL_TREE, del('projects', n));
    }
    await both.next((f) => uuidOf(f) === `${tag}-projects-3`);
    expect(both.frames.filter((f) => uuidOf(f)?.startsWith(`${tag}-common`))).toHaveLength(3);

    const projectsOnly = token({ name: 'alice', workspaces: [W1] });
    const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, projectsOnly, from);
    keep(client);
    // The last projects event is replayed after every common one was published: the barrier.
    expect(replayOf(client).map(uuidOf)).toEqual([1, 2, 3].map((n) => `${tag}-projects-${n}`));
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 3 });
  });

  it('does not deliver again a node batch that was pending when the replay covered its events', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const uuid = `${tag}-node`;
    const isNode = (f: Frame) => (f.Target as { Uuid?: string } | undefined)?.Uuid === uuid;
    const witness = keep(await Client.subscribed(`${b.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-0`));
    const from = (await got(witness, `${tag}-0`))['@offset'];
    // Coalesced on B for a second (NODE_BATCH_WINDOW_MS), while the client resumes there.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'CREATE', Target: { Uuid: uuid, Path: 'pydiods1/projects/batch.txt', Type: 'LEAF' } });
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-1`));
    await got(witness, `${tag}-1`);
    expect(witness.frames.filter(isNode)).toEqual([]);
    const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, alice, from);
    keep(client);
    expect(r).toEqual({ '@type': 'resumed', recovered: true, replayed: 2 });
    expect(replayOf(client).filter(isNode)).toHaveLength(1);
    // The batch leaves B's coalescer now: the witness gets it, the resumed client must not again.
    await witness.next(isNode, 4000);
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-barrier`));
    await got(client, `${tag}-barrier`);
    expect(client.frames.filter(isNode)).toHaveLength(1);
  });

  it('holds live events that race the replay: no gap, no duplicate, order kept (hundreds of events)', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const ids = Array.from({ length: 600 }, (_, n) => `${tag}-${n}`);
    const first = keep(await Client.subscribed(`${a.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task(`${tag}-start`));
    const from = (await got(first, `${tag}-start`))['@offset'];
    first.close();
    // 300 before the resume, 300 while it runs.
    for (const id of ids.slice(0, 300)) void backend.publish(ch.CHANNEL_TASKS, task(id));
    const racing = (async () => {
      for (const id of ids.slice(300)) {
        await backend.publish(ch.CHANNEL_TASKS, task(id));
        if (Number(id.split('-')[1]) % 20 === 0) await sleep(1);
      }
    })();
    const { client, resumed: r } = await resumed(`${b.wsUrl}/ws`, alice, from, 10_000);
    keep(client);
    await racing;
    await got(client, ids.at(-1)!, 10_000);
    const seen = client.frames.filter((f) => taskId(f)?.startsWith(`${tag}-`) && taskId(f) !== `${tag}-start`).map(taskId);
    expect(seen).toEqual(ids);
    expect(r.recovered).toBe(true);
    expect(replayOf(client).length).toBe(r.replayed);
    expect(r.replayed).toBeGreaterThan(0);
    // Offsets strictly increase along what the client got.
    const offsets = client.frames.filter((f) => typeof f['@offset'] === 'string').map((f) => (f['@offset'] as string).split('@')[0].split('-').map(Number));
    const after = ([ms, seq]: number[], [pms, pseq]: number[]) => ms > pms || (ms === pms && seq > pseq);
    expect(offsets.filter((o, i) => i > 0 && !after(o, offsets[i - 1]))).toEqual([]);
  }, 30_000);

  it('gives POST /api/publish events an offset too, and replays them', async () => {
    const probe = keep(await Client.subscribed(`${b.wsUrl}/ws`, alice));
    await backend.publish(ch.CHANNEL_TASKS, task('api-0'));
    const from = (await got(probe, 'api-0'))['@offset'];
    const res = await fetch(`${a.url}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ channel: ch.CHANNEL_TASKS, data: task('api-1') }),
    });
    expect(res.status).toBe(202);
    expect((await got(probe, 'api-1'))['@offset']).toMatch(OFFSET_PATTERN);
    const { client, resumed: r } = await resumed(`${a.wsUrl}/ws`, alice, from);
    keep(client);
    expect(replayOf(client).map(taskId)).toEqual(['api-1']);
    expect(r.replayed).toBe(1);
  });
});

describe('replay bounds', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  const alice = token({ name: 'alice' });

  beforeAll(async () => {
    ch = testChannels();
    app = await startInstance({ ...ch, REDIS_URL, HISTORY_REPLAY_MAX_EVENTS: '3', HISTORY_REPLAY_MAX_BYTES: '1000', HISTORY_REPLAY_SCAN_MAX: '500' });
    backend = new Backend();
    await waitSubscribed(backend, ch.CHANNEL_TASKS);
  });
  afterAll(async () => {
    await backend.close();
    await app.close();
  });

  it('answers recovered:false, keeps the socket and goes live when the replay is too long', async () => {
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await backend.publish(ch.CHANNEL_TASKS, task('b-0'));
    const from = (await got(probe, 'b-0'))['@offset'];
    for (const n of [1, 2, 3]) await backend.publish(ch.CHANNEL_TASKS, task(`b-${n}`));
    await got(probe, 'b-3');
    // Three fit.
    const fits = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(fits.resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 3 });
    await backend.publish(ch.CHANNEL_TASKS, task('b-4'));
    await got(probe, 'b-4');
    // Four do not.
    const tooMany = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(tooMany.resumed).toEqual({ '@type': 'resumed', recovered: false, reason: 'too_many' });
    await backend.publish(ch.CHANNEL_TASKS, task('b-5'));
    await got(tooMany.client, 'b-5');
    expect(tooMany.client.frames.filter((f) => taskId(f) !== undefined).map(taskId)).toEqual(['b-5']);
    for (const c of [probe, fits.client, tooMany.client]) c.close();
  });

  it('counts what the session receives against HISTORY_REPLAY_MAX_EVENTS, not the entries it cannot see', async () => {
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await backend.publish(ch.CHANNEL_TASKS, task('v-0'));
    const from = (await got(probe, 'v-0'))['@offset'];
    // 60 events for bob, then one for alice: the replay reads 61 entries and sends one frame (limit 3).
    for (let n = 0; n < 60; n++) await backend.publish(ch.CHANNEL_TASKS, task(`bob-${n}`, 'bob'));
    await backend.publish(ch.CHANNEL_TASKS, task('v-1'));
    await got(probe, 'v-1');
    const r = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(r.resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 1 });
    for (const c of [probe, r.client]) c.close();
  });

  it('bounds the entries a replay may read, seen or not (HISTORY_REPLAY_SCAN_MAX)', async () => {
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await backend.publish(ch.CHANNEL_TASKS, task('w-0'));
    const from = (await got(probe, 'w-0'))['@offset'];
    for (let n = 0; n < 501; n++) await backend.publish(ch.CHANNEL_TASKS, task(`carol-${n}`, 'carol'));
    await backend.publish(ch.CHANNEL_TASKS, task('w-1'));
    await got(probe, 'w-1');
    const r = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(r.resumed).toEqual({ '@type': 'resumed', recovered: false, reason: 'too_long' });
    for (const c of [probe, r.client]) c.close();
  });

  it('answers recovered:false when the replay would pass HISTORY_REPLAY_MAX_BYTES', async () => {
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await backend.publish(ch.CHANNEL_TASKS, task('s-0'));
    const from = (await got(probe, 's-0'))['@offset'];
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 's-1', TriggerOwner: 'alice', StatusMessage: 'x'.repeat(600) } });
    await got(probe, 's-1');
    const fits = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(fits.resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 1 });
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 's-2', TriggerOwner: 'alice', StatusMessage: 'y'.repeat(600) } });
    await got(probe, 's-2');
    // One event (within the count of 3), but 1,200 bytes and more of frames.
    const tooLarge = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(tooLarge.resumed).toEqual({ '@type': 'resumed', recovered: false, reason: 'too_large' });
    for (const c of [probe, fits.client, tooLarge.client]) c.close();
  });
});

describe('resume in embedded mode (no REDIS_URL)', () => {
  let app: Instance;
  const alice = token({ name: 'alice' });
  const publish = (id: string) =>
    fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ channel: 'topic.pydio.tasks.event', data: task(id) }),
    });

  beforeAll(async () => {
    app = await startInstance({ REDIS_URL: undefined, HISTORY_TTL_SECONDS: '1' });
  });
  afterAll(async () => app.close());

  it('offsets, replay and the same refusals, from memory', async () => {
    const probe = await Client.subscribed(`${app.wsUrl}/ws`, alice);
    await publish('m-0');
    const from = (await got(probe, 'm-0'))['@offset'];
    expect(from).toMatch(OFFSET_PATTERN);
    await publish('m-1');
    await publish('m-2');
    await got(probe, 'm-2');
    const r = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(r.resumed).toEqual({ '@type': 'resumed', recovered: true, replayed: 2 });
    expect(replayOf(r.client).map(taskId)).toEqual(['m-1', 'm-2']);
    expect((await resumed(`${app.wsUrl}/ws`, alice, 'nope')).resumed.recovered).toBe(false);
    // HISTORY_TTL_SECONDS=1: past it, the offset is out of the history.
    await sleep(1100);
    await publish('m-3');
    await got(probe, 'm-3');
    const late = await resumed(`${app.wsUrl}/ws`, alice, from);
    expect(late.resumed).toEqual({ '@type': 'resumed', recovered: false, reason: 'expired' });
    for (const c of [probe, r.client, late.client]) c.close();
  });
});
