/**
 * Coalesced pushes and task progress (PROTOCOL 5, rt-coreExtension-websocket's normalization):
 * events of one key within a window leave as the last one, with its offset; other keys and
 * targets are not held; a window is counted from the first event; a task's status change is
 * never merged away; a resume sends the last value only. Over a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Backend, Client, REDIS_URL, framesBefore, metricValue, startInstance, testChannels, token, waitSubscribed, type Frame, type Instance } from '../support/harness.js';
import { replayOf, resumed, task, taskId } from '../support/resume.js';

describe('coalescing over a real Redis', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  const clients: Client[] = [];
  let n = 0;
  const mark = () => `c${++n}`;

  const subscribed = async (name: string) => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, token({ name }));
    clients.push(c);
    return c;
  };
  const push = (data: object) => backend.publish(ch.CHANNEL_PUSH, data);
  /** A push to the session itself, after what must (not) arrive: the frames before it. */
  const upToSentinel = async (c: Client) => {
    const sentinel = mark();
    await push({ pushToSession: c.frames[0].sessionId, payload: { sentinel } });
    return framesBefore(c, 0, (f) => f.sentinel === sentinel);
  };
  const coalesced = (topic: string) => metricValue(app.url, `switchboard_events_coalesced_total{topic="${topic}"}`);

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL, PUSH_COALESCE_MAX_MS: '1000', TASK_COALESCE_MS: '300' });
    await waitSubscribed(backend, ch.CHANNEL_PUSH);
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await app?.close();
    await backend?.close();
  });

  it('merges three pushes of one key into the last one, with its offset; other keys and targets pass at once', async () => {
    const alice = await subscribed('alice');
    const bob = await subscribed('bob');
    const key = mark();
    const before = await coalesced('push');
    for (const v of [1, 2, 3]) await push({ pushToUser: 'alice', payload: { key, v }, coalesce: { key } });
    await push({ pushToUser: 'alice', payload: { key: 'other', v: 9 }, coalesce: { key: mark() } });
    await push({ pushToUser: 'bob', payload: { key, v: 7 }, coalesce: { key } });
    const merged = await alice.next((f) => f.key === key);
    expect(merged.v).toBe(3);
    await alice.next((f) => f.key === 'other');
    await bob.next((f) => f.key === key && f.v === 7);
    expect((await upToSentinel(alice)).filter((f) => f.key === key)).toEqual([merged]);
    // The offset is the last push's: a resume from it replays nothing of the three.
    const r = await resumed(`${app.wsUrl}/ws`, token({ name: 'alice' }), merged['@offset']);
    clients.push(r.client);
    expect(replayOf(r.client).filter((f) => f.key === key)).toEqual([]);
    expect((await coalesced('push')) - before).toBe(2);
  });

  it('counts the window from the first push: a key pushed every 100 ms still leaves every window, not once at the end', async () => {
    const alice = await subscribed('alice');
    const key = mark();
    const started = Date.now();
    for (let v = 0; v < 15; v++) {
      await push({ pushToUser: 'alice', payload: { key, v }, coalesce: { key, windowMs: 300 } });
      await new Promise((r) => setTimeout(r, 100));
    }
    await alice.next((f) => f.key === key && f.v === 14, 3000);
    const frames = (await upToSentinel(alice)).filter((f) => f.key === key);
    // 1.5 s of pushes in windows of 300 ms: about 5 frames (one per window), the last with the last value.
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames.length).toBeLessThanOrEqual(8);
    expect(frames.at(-1)!.v).toBe(14);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('cuts a window asked beyond PUSH_COALESCE_MAX_MS to it', async () => {
    const alice = await subscribed('alice');
    const key = mark();
    const started = Date.now();
    await push({ pushToUser: 'alice', payload: { key }, coalesce: { key, windowMs: 3_600_000 } });
    await alice.next((f) => f.key === key, 5000);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('merges a task\'s Running progress (last Progress wins) but never a status change', async () => {
    const alice = await subscribed('alice');
    const id = mark();
    const progress = (Progress: number, Status = 'Running') => ({ TaskUpdated: { ID: id, TriggerOwner: 'alice', Status, Progress } });
    for (const p of [0.1, 0.2, 0.3]) await backend.publish(ch.CHANNEL_TASKS, progress(p));
    await backend.publish(ch.CHANNEL_TASKS, progress(1, 'Finished'));
    await alice.next((f) => taskId(f) === id && (f.TaskUpdated as { Status: string }).Status === 'Finished');
    const frames = (await upToSentinel(alice)).filter((f) => taskId(f) === id).map((f) => f.TaskUpdated as { Status: string; Progress: number });
    expect(frames.map((t) => [t.Status, t.Progress])).toEqual([
      ['Running', 0.3],
      ['Finished', 1],
    ]);
  });

  it('replays the last value of a key only, and every status change', async () => {
    const probe = await subscribed('alice');
    await backend.publish(ch.CHANNEL_TASKS, task('from'));
    const from = (await probe.next((f) => taskId(f) === 'from'))['@offset'];
    const key = mark();
    const id = mark();
    for (const v of [1, 2, 3]) await push({ pushToUser: 'alice', payload: { key, v }, coalesce: { key } });
    for (const [Status, Progress] of [['Running', 0.5], ['Error', 0.5], ['Running', 0.6]] as const) {
      await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: id, TriggerOwner: 'alice', Status, Progress } });
    }
    await probe.next((f) => taskId(f) === id && (f.TaskUpdated as { Progress: number }).Progress === 0.6);
    const r = await resumed(`${app.wsUrl}/ws`, token({ name: 'alice' }), from);
    clients.push(r.client);
    const replay: Frame[] = replayOf(r.client);
    expect(replay.filter((f) => f.key === key).map((f) => f.v)).toEqual([3]);
    expect(replay.filter((f) => taskId(f) === id).map((f) => (f.TaskUpdated as { Status: string }).Status)).toEqual(['Error', 'Running']);
  });
});
