import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Backend, Client, REDIS_URL, ask, framesBefore, marker, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';

/** Every event frame carries its place in the history (PROTOCOL 6). */
const OFFSET = expect.stringMatching(/^\d+-\d+@[0-9a-f]+$/);

const W1 = ws('w1', 'projects', 'pydiods1/projects');
/** A workspace no test deletes: its nodes are the barriers of node events. */
const W9 = ws('w9', 'barriers', 'pydiods1/barriers');
const isTask = (id: string) => (f: Frame) => (f.TaskUpdated as { ID?: string })?.ID === id;
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('subscribe, token life and limits on /ws', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({
      ...ch,
      REDIS_URL,
      TOKEN_EXPIRY_GRACE_SECONDS: '1',
      CLIENT_FRAME_RATE: '5',
      CLIENT_FRAME_BURST: '10',
      SESSION_RATE: '100000',
      SESSION_BURST: '100000',
      SESSION_QUEUE_MAX: '100000',
      SESSION_MAX_BUFFERED_BYTES: '65536',
    });
    await waitSubscribed(backend, ch.CHANNEL_IDM);
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ['empty jwt', { '@type': 'subscribe', jwt: '' }, 'empty jwt', 'unauthenticated'],
    ['no jwt', { '@type': 'subscribe' }, 'empty jwt', 'unauthenticated'],
    ['bad signature', { '@type': 'subscribe', jwt: token({ name: 'alice' }, { secret: 'other' }) }, 'invalid signature', 'unauthenticated'],
    ['expired', { '@type': 'subscribe', jwt: token({ name: 'alice', exp: now() - 60 }) }, 'token expired', 'token_expired'],
    ['alg none', { '@type': 'subscribe', jwt: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ name: 'alice', sub: 'alice' })}.` }, 'algorithm not accepted: none', 'unauthenticated'],
    ['garbage', { '@type': 'subscribe', jwt: 'not.a.token' }, 'malformed token', 'unauthenticated'],
    ['bad JSON', 'this is not json', 'bad JSON', 'bad_json'],
  ])('refuses %s with an error frame, then close 4401', async (_name, frame, reason, code) => {
    const c = await Client.connect(`${app.wsUrl}/ws`);
    c.send(frame);
    expect(await c.next((f) => f['@type'] === 'error')).toEqual({ '@type': 'error', error: reason, code });
    expect(await c.closed).toEqual({ code: 4401, reason });
  });

  it('keeps a re-subscribed session past its first token, and closes the other one 4401 after the grace', async () => {
    // Long enough for both sessions to subscribe and one to renew on a loaded machine (exp is rounded down to the second).
    const short = () => token({ name: 'alice', workspaces: [W1] }, { expiresIn: 3 });
    const refreshed = await Client.subscribed(`${app.wsUrl}/ws`, short());
    const stale = await Client.subscribed(`${app.wsUrl}/ws`, short());
    refreshed.send({ '@type': 'subscribe', jwt: token({ name: 'alice', workspaces: [W1] }, { expiresIn: 3600 }) });
    await refreshed.next((f) => f['@type'] === 'subscribed' && (f.expiresAt as number) > now() + 60);
    expect(await stale.closed).toEqual({ code: 4401, reason: 'token expired' });
    expect(stale.frames).toContainEqual({ '@type': 'error', error: 'token expired', code: 'token_expired' });
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'still-here', TriggerOwner: 'alice' } });
    expect(await refreshed.next((f) => (f.TaskUpdated as { ID?: string })?.ID === 'still-here')).toMatchObject({ TaskUpdated: { ID: 'still-here', TriggerOwner: 'alice' } });
    refreshed.close();
  }, 10_000);

  it('stops delivering after unsubscribe, answers frames without @type, ignores unknown types', async () => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'carol' }));
    c.send({ hello: 'world' });
    expect(await c.next((f) => f['@type'] === 'error')).toEqual({ '@type': 'error', error: 'frame has no @type', code: 'bad_frame' });
    c.send({ '@type': 'somethingNew' });
    c.send({ '@type': 'unsubscribe' });
    await marker(c); // the unsubscribe is done
    const witness = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'carol-witness' }));
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'after-unsub', TriggerOwner: 'carol' } });
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'witness', TriggerOwner: 'carol-witness' } });
    await witness.next(isTask('witness')); // the task for carol was handled before this one
    // Barrier: subscribed again, a later task comes after the one that must not have arrived.
    await ask(c, { '@type': 'subscribe', jwt: token({ name: 'carol' }) }, (f) => f['@type'] === 'subscribed');
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'sentinel', TriggerOwner: 'carol' } });
    expect((await framesBefore(c, 0, isTask('sentinel'))).filter((f) => f.TaskUpdated !== undefined)).toEqual([]);
    expect(c.socket.readyState).toBe(c.socket.OPEN);
    expect(c.frames.filter((f) => f['@type'] === 'error')).toEqual([{ '@type': 'error', error: 'frame has no @type', code: 'bad_frame' }, { '@type': 'error', error: 'frame has no @type', code: 'bad_frame' }]);
    witness.close();
    c.close();
  });

  it('closes 1009 on a frame over 64 KiB and 4429 on a flood of frames', async () => {
    const big = await Client.connect(`${app.wsUrl}/ws`);
    big.send('x'.repeat(65 * 1024));
    expect((await big.closed).code).toBe(1009);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/switchboard_closes_total\{code="1009"\} 1/);

    const flood = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'dave' }));
    for (let i = 0; i < 30; i++) flood.send({ '@type': 'noop' });
    expect(await flood.closed).toEqual({ code: 4429, reason: 'too many frames' });
  });

  it('closes a slow consumer 4008 while a fast one keeps receiving', async () => {
    const claims = { roles: ['r-flow'] };
    const fast = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'fast', ...claims }));
    const slow = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'slow', ...claims }));
    // The slow browser stops reading: the server's socket buffer grows past its bound.
    (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const filler = 'x'.repeat(60 * 1024);
    for (let i = 0; i < 200; i++) await backend.publish(ch.CHANNEL_IDM, { Type: 'UPDATE', Role: { Uuid: 'r-flow', Label: `${i}`, filler } });
    await fast.next((f) => (f.Role as { Label?: string })?.Label === '199', 10_000);
    expect(fast.frames.filter((f) => f['@type'] === 'idm')).toHaveLength(200);
    (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slow.closed).toEqual({ code: 4008, reason: 'slow consumer' });
    expect(slow.frames.filter((f) => f['@type'] === 'idm').length).toBeLessThan(200);
    expect(fast.socket.readyState).toBe(fast.socket.OPEN);
    fast.close();
  }, 20_000);

  it('takes a deleted workspace away at once and closes a deleted user 4403', async () => {
    const erin = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'erin', sub: 'uuid-erin', workspaces: [W1] }));
    const frank = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'frank', workspaces: [W1, W9] }));
    const erinChat = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'erin', sub: 'uuid-erin' }));
    await backend.publish(ch.CHANNEL_IDM, { Type: 'DELETE', Workspace: { UUID: 'w1', Slug: 'projects' } });
    expect(await frank.next((f) => f['@type'] === 'idm')).toMatchObject({ Type: 'DELETE', Workspace: { UUID: 'w1' } });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'gone', Path: 'pydiods1/projects/a' } });
    // Barrier: a later node event in the workspace frank keeps, through the same node pipeline.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'sentinel-w9', Path: 'pydiods1/barriers/s' } });
    const toFrank = await framesBefore(frank, 0, (f) => (f.Source as { Uuid?: string })?.Uuid === 'sentinel-w9');
    expect(toFrank.filter((f) => f.Source !== undefined)).toEqual([]);

    await backend.publish(ch.CHANNEL_IDM, { Type: 'DELETE', User: { Uuid: 'uuid-erin', Password: 'hash' } });
    expect(await erin.closed).toEqual({ code: 4403, reason: 'user removed' });
    expect(await erinChat.closed).toEqual({ code: 4403, reason: 'user removed' });
    const idm = erin.frames.find((f) => f['@type'] === 'idm' && f.User);
    expect(idm).toEqual({ '@type': 'idm', Type: 'DELETE', User: { Uuid: 'uuid-erin' }, '@offset': OFFSET });
    expect(frank.socket.readyState).toBe(frank.socket.OPEN);
    frank.close();
  });

  it('delivers UPDATE_USER_META only where the node policy allows READ and no deny matches', async () => {
    const policies = JSON.stringify([
      { Subject: 'role:r-readers', Action: 'READ', Effect: 'allow' },
      { Subject: 'user:mallory', Action: 'READ', Effect: 'deny' },
    ]);
    const reader = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'grace', roles: ['r-readers'], workspaces: [W1] }));
    const denied = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'mallory', roles: ['r-readers'], workspaces: [W1] }));
    const outsider = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'heidi', workspaces: [W1] }));
    await backend.publish(ch.CHANNEL_META, {
      Type: 'UPDATE_USER_META',
      Target: { Uuid: 'um', Path: 'pydiods1/projects/n.txt', MetaStore: { 'pydio:meta-policies': policies, tags: '"blue"' } },
    });
    expect(await reader.next((f) => f.Type === 'UPDATE_USER_META')).toEqual({
      Type: 'UPDATE_USER_META',
      Target: { Uuid: 'um', Path: 'projects/n.txt', MetaStore: { tags: '"blue"', EventWorkspaceId: '"w1"' } },
      '@offset': OFFSET,
    });
    // Barrier: a later node event both see, through the same node pipeline.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'sentinel-um', Path: 'pydiods1/projects/sentinel' } });
    for (const c of [denied, outsider]) {
      expect((await framesBefore(c, 0, (f) => (f.Source as { Uuid?: string })?.Uuid === 'sentinel-um')).filter((f) => f.Type !== undefined)).toEqual([]);
    }
    for (const c of [reader, denied, outsider]) c.close();
  });

  it('drops Silent events beyond the global limiter', async () => {
    const c = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'ivan', workspaces: [W1] }));
    for (let i = 0; i < 40; i++) {
      await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Silent: true, Source: { Uuid: `s${i}`, Path: `pydiods1/projects/s${i}` } });
    }
    // Barrier: an event that is not Silent, through the same pipeline, after the burst.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'loud', Path: 'pydiods1/projects/loud' } });
    const got = (await framesBefore(c, 0, (f) => (f.Source as { Uuid?: string })?.Uuid === 'loud')).filter((f) => f.Type === 'DELETE');
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(got.length).toBeLessThan(40);
    c.close();
  });
});

