import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Backend, Client, REDIS_URL, framesBefore, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance, channelsOf } from '../support/harness.js';

const W1 = ws('w1', 'projects', 'pydiods1/projects');
const W2 = ws('w2', 'common', 'pydiods1/common');
const PERSONAL_ALICE = ws('wp', 'personal', 'personal/alice');
/** Every event frame carries its place in the history (PROTOCOL 6). */
const OFFSET = expect.stringMatching(/^\d+-\d+@[0-9a-f]+$/);
/** The admin's own workspace: only for barriers (it sees no other). */
const W_ADMIN = ws('wa', 'admin', 'pydiods1/admin');
const uuidOf = (x: Frame) => ((x.Target ?? x.Source) as { Uuid?: string } | undefined)?.Uuid;

describe('/ws events over a real Redis', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  let alice: Client, bob: Client, admin: Client;
  let sentinels = 0;
  /**
   * Barriers. A node event under `root` (one the session sees) goes through the same node
   * pipeline, a task to `user` through the same topic, after the event that must not arrive;
   * `before(c)` gives what `c` received up to it.
   */
  async function nodeSentinel(root: string) {
    const uuid = `sentinel-${++sentinels}`;
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: uuid, Path: `${root}/${uuid}` } });
    return (c: Client) => framesBefore(c, 0, (x) => uuidOf(x) === uuid);
  }
  async function taskSentinel(user: string) {
    const id = `sentinel-${++sentinels}`;
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: id, TriggerOwner: user } });
    return (c: Client) => framesBefore(c, 0, (x) => (x.TaskUpdated as { ID?: string })?.ID === id);
  }

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL });
    await waitSubscribed(backend, ch.CHANNEL_TREE);
    alice = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice', roles: ['r-alice', 'r-common'], workspaces: [W1, W2, PERSONAL_ALICE] }));
    bob = await Client.subscribed(`${app.wsUrl}/ws/event`, token({ name: 'bob', roles: 'r-bob,r-common', workspaces: [W2] }));
    admin = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'root', profile: 'admin', roles: ['r-admin'], workspaces: [W_ADMIN] }));
  });

  afterAll(async () => {
    for (const c of [alice, bob, admin]) c?.close();
    await app?.close();
    await backend?.close();
  });

  it('answers subscribe with the ack', () => {
    const ack = alice.frames.find((f) => f['@type'] === 'subscribed')!;
    expect(ack).toEqual({ '@type': 'subscribed', user: 'alice', workspaces: ['w1', 'w2', 'wp'], sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), expiresAt: expect.any(Number) });
    expect(ack.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3500);
  });

  it.each(['bare', 'envelope'] as const)('delivers a DELETE (%s payload) only to sessions that see the node', async (form) => {
    const uuid = `del-${form}`;
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: uuid, Path: 'pydiods1/projects/a.txt', MetaStore: { 'pydio:secret': '"x"', name: '"a.txt"' } } }, form);
    const f = await alice.next((x) => (x.Source as { Uuid?: string })?.Uuid === uuid);
    expect(f).toEqual({ Type: 'DELETE', Source: { Uuid: uuid, Path: 'projects/a.txt', MetaStore: { name: '"a.txt"', EventWorkspaceId: '"w1"' } }, '@offset': OFFSET });
    expect((await (await nodeSentinel('pydiods1/common'))(bob)).filter((x) => uuidOf(x) === uuid)).toEqual([]);
    expect((await (await nodeSentinel('pydiods1/admin'))(admin)).filter((x) => uuidOf(x) === uuid)).toEqual([]);
  });

  it('coalesces a burst of updates on one node into one CREATE frame', async () => {
    const node = (extra: object) => ({ Uuid: 'n-burst', Path: 'pydiods1/common/report.pdf', Type: 'LEAF', ...extra });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'CREATE', Target: node({ Etag: 'temporary', Size: '0' }) });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'UPDATE_CONTENT', Target: node({ Etag: 'abc', Size: 1200 }) });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'UPDATE_META', Target: node({ Etag: 'temporary', MetaStore: { color: '"red"' } }) });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'UPDATE_META', Target: node({ MetaStore: { size_hint: '"big"' } }) });
    const isBurst = (x: Record<string, unknown>) => (x.Target as { Uuid?: string })?.Uuid === 'n-burst';
    const f = await bob.next(isBurst);
    expect(f).toEqual({
      Type: 'CREATE',
      Target: { Uuid: 'n-burst', Path: 'common/report.pdf', Type: 'LEAF', Etag: 'abc', Size: '1200', MetaStore: { color: '"red"', size_hint: '"big"', EventWorkspaceId: '"w2"' } },
      '@offset': OFFSET,
    });
    // No second flush may follow: a node's later event goes after any batch of it still pending (the barrier).
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: 'n-burst', Path: 'pydiods1/common/report.pdf' } });
    const isBurstDeleted = (x: Record<string, unknown>) => x.Type === 'DELETE' && (x.Source as { Uuid?: string })?.Uuid === 'n-burst';
    await bob.next(isBurstDeleted);
    await alice.next(isBurstDeleted);
    expect(bob.frames.filter(isBurst)).toHaveLength(1);
    expect(alice.frames.filter(isBurst)).toHaveLength(1);
  });

  it('turns a move across workspaces into DELETE for one side and CREATE for the other', async () => {
    await backend.publish(ch.CHANNEL_TREE, {
      Type: 'UPDATE_PATH',
      Source: { Uuid: 'mv', Path: 'pydiods1/projects/x.txt' },
      Target: { Uuid: 'mv', Path: 'pydiods1/common/x.txt', Type: 'LEAF' },
    });
    const isMove = (x: Record<string, unknown>) => ((x.Target ?? x.Source) as { Uuid?: string })?.Uuid === 'mv';
    const b = await bob.next(isMove);
    expect(b).toEqual({ Type: 'CREATE', Target: { Uuid: 'mv', Path: 'common/x.txt', Type: 'LEAF', MetaStore: { EventWorkspaceId: '"w2"' } }, '@offset': OFFSET });
    const a = (await (await nodeSentinel('pydiods1/projects'))(alice)).filter(isMove);
    expect(a).toHaveLength(2);
    expect(a).toContainEqual({ Type: 'DELETE', Source: { Uuid: 'mv', Path: 'projects/x.txt', MetaStore: { EventWorkspaceId: '"w1"' } }, '@offset': b['@offset'] });
    expect(a).toContainEqual(b);
  });

  it('delivers task events to the owner, and system tasks to admins', async () => {
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 't1', TriggerOwner: 'alice', Status: 'Running', Progress: 0.4 }, Job: { ID: 'j1' } });
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 't2', TriggerOwner: 'pydio.system.user', Status: 'Finished' }, Job: { ID: 'j2' } }, 'envelope');
    const isTask = (id: string) => (x: Record<string, unknown>) => (x.TaskUpdated as { ID?: string })?.ID === id;
    expect(await alice.next(isTask('t1'))).toMatchObject({ TaskUpdated: { Progress: 0.4 } });
    expect(await admin.next(isTask('t2'))).toMatchObject({ Job: { ID: 'j2' } });
    expect((await (await taskSentinel('bob'))(bob)).filter((x) => isTask('t1')(x) || isTask('t2')(x))).toEqual([]);
    expect((await (await taskSentinel('alice'))(alice)).filter(isTask('t2'))).toEqual([]);
    expect((await (await taskSentinel('root'))(admin)).filter(isTask('t1'))).toEqual([]);
  });

  it('delivers IDM role events by role, and activity to the owner unless self-made', async () => {
    await backend.publish(ch.CHANNEL_IDM, { Type: 'UPDATE', Role: { Uuid: 'r-common', Label: 'Common' } });
    expect(await alice.next((x) => x['@type'] === 'idm')).toMatchObject({ Role: { Uuid: 'r-common' } });
    expect(await bob.next((x) => x['@type'] === 'idm')).toMatchObject({ Type: 'UPDATE' });
    // Barrier: an idm event for the admin's role comes after the one it must not get.
    await backend.publish(ch.CHANNEL_IDM, { Type: 'UPDATE', Role: { Uuid: 'r-admin', Label: 'sentinel' } });
    const toAdmin = await framesBefore(admin, 0, (x) => (x.Role as { Label?: string })?.Label === 'sentinel');
    expect(toAdmin.filter((x) => x['@type'] === 'idm')).toEqual([]);

    const act = (actor: string, name: string) => ({ OwnerType: 'USER', OwnerId: 'alice', BoxName: 'inbox', Activity: { actor: { id: actor }, object: { name } } });
    await backend.publish(ch.CHANNEL_ACTIVITY, act('alice', 'pydiods1/projects/self.txt'));
    await backend.publish(ch.CHANNEL_ACTIVITY, act('bob', 'pydiods1/projects/deep/file.txt'));
    const f = await alice.next((x) => x['@type'] === 'activity');
    expect(f.Activity).toMatchObject({ actor: { id: 'bob' }, object: { name: 'file.txt' } });
    await backend.publish(ch.CHANNEL_ACTIVITY, act('carol', 'pydiods1/projects/sentinel.txt'));
    const before = await framesBefore(alice, 0, (x) => x['@type'] === 'activity' && (x.Activity as { object?: { name?: string } }).object?.name === 'sentinel.txt');
    expect(before.filter((x) => x['@type'] === 'activity')).toEqual([f]);
  });

  it('survives a burst of garbage on every channel and still delivers the next valid event', async () => {
    const garbage = ['not json', '{"Type":', '42', 'null', '[]', '{"TaskUpdated":"no"}', '{"pattern":"x"}', JSON.stringify({ Type: 7 })];
    for (const channel of channelsOf(ch)) for (const g of garbage) await backend.publish(channel, g);
    await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: 'after-garbage', TriggerOwner: 'bob' } });
    expect(await bob.next((x) => (x.TaskUpdated as { ID?: string })?.ID === 'after-garbage')).toMatchObject({ TaskUpdated: { ID: 'after-garbage', TriggerOwner: 'bob' } });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    const rejected: Record<string, number> = {};
    for (const line of metrics.split('\n').filter((l) => l.startsWith('switchboard_bus_rejected_total'))) {
      const topic = /topic="(\w+)"/.exec(line)![1];
      rejected[topic] = (rejected[topic] ?? 0) + Number(line.split(' ').pop());
    }
    const n = garbage.length;
    // Every payload is refused on every channel, but for IDM: any object whose Type is a string
    // (or absent) is an IDM event, so '{"TaskUpdated":"no"}' and '{"pattern":"x"}' are valid there
    // (they reach nobody). Push has two channels.
    expect(rejected).toEqual({ tree: n, meta: n, tasks: n, idm: n - 2, activity: n, chat: n, push: 2 * n });
  });
});
