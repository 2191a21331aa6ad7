/**
 * @switchboard/client against a real Switchboard (random loopback port, real Redis): typed
 * handlers, reconnect with backoff, push rooms restored, renewal, the 4401 / 4403 rules,
 * resume (the reset path, as the service does not resume yet) and a clean close.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Switchboard, shareTabs, type NodeEvent, type Status, type TaskEvent } from '../../client/src/index.js';
import { Recorder, RecordingSocket, RecordingWebSocket, restart } from '../support/client-harness.js';
import { API_KEY, Backend, REDIS_URL, startInstance, testChannels, token, waitSubscribed, ws, type Instance } from '../support/harness.js';

const tag = randomBytes(4).toString('hex');
const W1 = ws(`w1-${tag}`, 'projects', 'pydiods1/projects');
const W2 = ws(`w2-${tag}`, 'common', 'pydiods1/common');

describe('@switchboard/client against the service', () => {
  const ch = testChannels();
  let app: Instance;
  let backend: Backend;
  const clients: Switchboard[] = [];

  /** A client with fast, deterministic backoff (random = 0.5: full jitter draws half of each ceiling). */
  function client(tokens: () => string | Promise<string>, extra: Partial<ConstructorParameters<typeof Switchboard>[0]> = {}) {
    const c = new Switchboard({ url: app.url, token: tokens, WebSocket: RecordingSocket, random: () => 0.5, backoff: { initialMs: 40, maxMs: 160 }, autoConnect: false, ...extra });
    clients.push(c);
    const status = new Recorder<Status>();
    c.on('status', status.push);
    c.connect();
    return { c, status };
  }
  const live = (s: Status) => s.state === 'live';

  async function publish(channel: string, data: unknown): Promise<void> {
    const res = await fetch(`${app.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel, data }) });
    expect(res.status).toBe(202);
  }

  beforeAll(async () => {
    backend = new Backend();
    // TASK_COALESCE_MS 0: frames keep the publish order (a Running task is otherwise held up to 200 ms).
    app = await startInstance({ ...ch, REDIS_URL, TOKEN_EXPIRY_GRACE_SECONDS: '0', SHUTDOWN_RECONNECT_WINDOW_MS: '400', TASK_COALESCE_MS: '0' });
    await waitSubscribed(backend, ch.CHANNEL_TREE);
  });

  afterEach(() => {
    clients.splice(0).forEach((c) => c.close());
    RecordingWebSocket.reset();
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  it('hands node, task, idm, activity and push frames to their own typed handlers, and only those', async () => {
    const user = `alice-${tag}`;
    const { c, status } = client(() => token({ name: user, roles: ['r1'], workspaces: [W1] }));
    const got = new Recorder<[string, unknown]>();
    for (const kind of ['node', 'task', 'idm', 'activity', 'push'] as const) c.on(kind, (f: unknown) => got.push([kind, f]));
    await status.next(live);

    await publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'n1', Path: 'pydiods1/projects/a.txt' } });
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 't1', TriggerOwner: user, Status: 'Running', Progress: 0.5 } });
    await publish(ch.CHANNEL_IDM, { Type: 'UPDATE', Role: { Uuid: 'r1' } });
    await publish(ch.CHANNEL_ACTIVITY, { OwnerType: 'USER', OwnerId: user, BoxName: 'inbox', Activity: { type: 'Create', actor: { id: 'bob' }, object: { name: 'a.txt' } } });
    await publish(ch.CHANNEL_PUSH, { pushToUser: user, payload: { hello: 'world' } });

    await got.next(([kind]) => kind === 'push');
    // Delivery is ordered per session: the push frame, published last, is a barrier for the others.
    expect(got.items.map(([kind]) => kind)).toEqual(['node', 'task', 'idm', 'activity', 'push']);
    const [node, task] = [got.items[0][1] as NodeEvent, got.items[1][1] as TaskEvent];
    expect(node.Source?.Path).toBe('projects/a.txt');
    expect(task.TaskUpdated.Progress).toBe(0.5);
    // PROTOCOL 6: an object push payload carries its place in the history.
    expect(got.items[4][1]).toEqual({ hello: 'world', '@offset': expect.stringMatching(/^\d+-\d+@[0-9a-f]+$/) });
  });

  it('with share where the platform has no Web Locks (Node, server-side rendering): each client its own socket, as without it', async () => {
    const own = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true }); // no `locks`, as in Node 22
    try {
      const user = `share-${tag}`;
      const tokens = () => token({ name: user, workspaces: [W1] });
      const [a, b] = [client(tokens, { share: shareTabs() }), client(tokens, { share: shareTabs() })];
      await Promise.all([a.status.next(live), b.status.next(live)]);
      expect(RecordingWebSocket.opened.filter((u) => u.endsWith('/ws'))).toHaveLength(2);
      expect([a.c.status.shared, b.c.status.shared, a.c.session?.sessionId === b.c.session?.sessionId]).toEqual([undefined, undefined, false]);
      const nodes = [new Recorder<NodeEvent>(), new Recorder<NodeEvent>()];
      a.c.on('node', nodes[0].push);
      b.c.on('node', nodes[1].push);
      await publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'n-share', Path: 'pydiods1/projects/shared.txt' } });
      for (const got of nodes) expect((await got.next()).Source?.Path).toBe('projects/shared.txt');
    } finally {
      if (own) Object.defineProperty(globalThis, 'navigator', own);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });

  it("reconnects after a restart after the server's retry hint, then with full-jitter backoff, joins its push rooms again and resumes from the ack's position (no event before: no reset)", async () => {
    const user = `bob-${tag}`;
    const { c, status } = client(() => token({ name: user, workspaces: [W1] }));
    const resets = new Recorder<string>();
    c.on('reset', resets.push);
    const pushed = new Recorder<unknown>();
    c.on('push', pushed.push);
    const answers = new Recorder<unknown>();
    c.on('room', answers.push);
    c.joinRoom(`user:${user}`);
    await status.next(live);
    await answers.next();
    const retries = () => status.items.filter((s) => s.retryInMs !== undefined).length;
    const answersBefore = answers.items.length;

    app = await restart(app, async () => {
      // Down long enough for the delays to reach the cap (random 0.5: half of 80, 160, 160, 160).
      await status.next(() => retries() >= 5, 10_000);
    });
    await status.next(live, 10_000, status.items.findIndex((s) => s.retryInMs !== undefined));
    const waits = status.items.filter((s) => s.retryInMs !== undefined);
    // First the server's hint (a draw in [0, 400] ms) plus the client's own jitter (half of 40 ms) ...
    const hint = Number(/retry in (\d+) ms/.exec(waits[0].detail ?? '')?.[1]);
    expect(waits[0]).toMatchObject({ state: 'offline', reason: 'closed by server', code: 1001, retryInMs: hint + 20 });
    expect(hint).toBeLessThanOrEqual(400);
    // ... then, the service being down, full-jitter backoff on an unreachable service.
    expect(waits.slice(1, 5).map((s) => [s.reason, s.retryInMs])).toEqual([['unreachable', 40], ['unreachable', 80], ['unreachable', 80], ['unreachable', 80]]);
    // It had seen no event: it resumes from the position its first ack gave (the stream is in Redis).
    expect(c.lastOffset).toMatch(/^\d+-\d+@[0-9a-f]+$/);

    await waitSubscribed(backend, ch.CHANNEL_PUSH);
    await answers.next((a) => (a as { joined?: boolean }).joined === true, 5000, answersBefore);
    await publish(ch.CHANNEL_PUSH, { pushToRoom: `user:${user}`, payload: 'after restart' });
    expect(await pushed.next()).toBe('after restart');
    expect(resets.items).toEqual([]); // the push is the barrier: a reset would have come before it
  });

  it('renews the token on `expiring` on the same socket: no reconnect, still live past the first token\'s expiry', async () => {
    const user = `carol-${tag}`;
    let calls = 0;
    // 3 s tokens: the server says `expiring` at half-life (1.5 s), and closes at exp with no grace.
    const { c, status } = client(() => (calls++, token({ name: user, workspaces: [W1], n: calls }, { expiresIn: 3 })));
    const acks = new Recorder<{ sessionId: string }>();
    c.on('subscribed', acks.push);
    const tasks = new Recorder<TaskEvent>();
    c.on('task', tasks.push);
    await status.next(live);
    const first = await acks.next();
    const firstExpiry = (c.session?.expiresAt ?? 0) * 1000;
    const renewed = await acks.nextNew(undefined, 4000);
    expect(renewed.sessionId).toBe(first.sessionId);
    expect(calls).toBe(2);
    await new Promise((r) => setTimeout(r, Math.max(0, firstExpiry - Date.now()) + 300));
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'after-expiry', TriggerOwner: user, Status: 'Running' } });
    expect((await tasks.next()).TaskUpdated.ID).toBe('after-expiry');
    expect(RecordingWebSocket.opened.filter((u) => u.endsWith('/ws'))).toHaveLength(1);
    expect(status.items.filter((s) => s.state !== 'live').map((s) => s.state)).toEqual(['connecting']);
  });

  it('does not reconnect after 4401 when the provider gives the same token again', async () => {
    const fixed = token({ name: `dave-${tag}`, workspaces: [W1] }, { expiresIn: 1 });
    const { status } = client(() => fixed);
    await status.next(live);
    const final = await status.next((s) => s.state === 'offline', 4000);
    expect(final).toMatchObject({ state: 'offline', reason: 'token', detail: 'token expired', code: 4401 });
    expect(final.retryInMs).toBeUndefined();
    expect(RecordingWebSocket.opened).toHaveLength(1);
  });

  it('reconnects after 4401 when the provider has a fresh token', async () => {
    let calls = 0;
    const { c, status } = client(() => (calls++ === 0 ? token({ name: `erin-${tag}` }, { secret: 'not-the-secret' }) : token({ name: `erin-${tag}` })));
    await status.next(live);
    expect(status.items.find((s) => s.state === 'offline')).toMatchObject({ code: 4401, reason: 'token', detail: 'invalid signature', retryInMs: 20 });
    expect(c.session?.user).toBe(`erin-${tag}`);
  });

  it('stops for good after 4403 (user removed)', async () => {
    const user = `frank-${tag}`;
    const { status } = client(() => token({ name: user, workspaces: [W1] }));
    await status.next(live);
    await publish(ch.CHANNEL_IDM, { Type: 'DELETE', User: { Login: user, Uuid: `u-${user}` } });
    const final = await status.next((s) => s.state === 'offline');
    expect(final).toMatchObject({ state: 'offline', reason: 'closed by server', detail: 'user removed', code: 4403 });
    expect(final.retryInMs).toBeUndefined();
  });

  it('resumes from the last @offset: what was published while it was away is replayed, no reset', async () => {
    const user = `gina-${tag}`;
    const { c, status } = client(() => token({ name: user, workspaces: [W1] }), { resumeTimeoutMs: 2000 });
    const resets = new Recorder<string>();
    c.on('reset', resets.push);
    const tasks = new Recorder<TaskEvent>();
    c.on('task', tasks.push);
    await status.next(live);
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'before-drop', TriggerOwner: user, Status: 'Running' } });
    await tasks.next((t) => t.TaskUpdated.ID === 'before-drop');
    const offset = c.lastOffset;
    expect(offset).toMatch(/^\d+-\d+@[0-9a-f]+$/);

    c.drop();
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'while-away', TriggerOwner: user, Status: 'Running' } });
    await status.nextNew(live);
    const subscribes = RecordingWebSocket.sent.filter((f) => f['@type'] === 'subscribe');
    expect(subscribes).toHaveLength(2);
    expect(subscribes[0].resumeFrom).toBeUndefined();
    expect(subscribes[1].resumeFrom).toBe(offset);
    expect((await tasks.next((t) => t.TaskUpdated.ID === 'while-away', 5000)).TaskUpdated.ID).toBe('while-away');
    // Barrier: a live event after the replay; no reset came before it.
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'after-resume', TriggerOwner: user, Status: 'Running' } });
    await tasks.next((t) => t.TaskUpdated.ID === 'after-resume', 5000);
    expect(resets.items).toEqual([]);
    expect(tasks.items.map((t) => t.TaskUpdated.ID)).toEqual(['before-drop', 'while-away', 'after-resume']);
  });

  it('close() ends both sockets for good: offline, no retry', async () => {
    const { c, status } = client(() => token({ name: `hank-${tag}`, workspaces: [W2] }));
    c.chat.join({ Type: 'GLOBAL', RoomTypeObject: `close-${tag}` });
    await status.next(live);
    c.close();
    const closed = { state: 'offline', reason: 'stopped', detail: 'closed by the client' };
    expect(c.status).toMatchObject(closed);
    expect(c.chat.status).toEqual(closed);
    expect(status.items.at(-1)).toMatchObject({ ...closed, endpoints: { events: closed, chat: closed } });
  });
});
