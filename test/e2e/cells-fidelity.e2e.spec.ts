/**
 * Issue 9: what real Cells services publish and what a real Cells client does with it.
 * Every payload is published bare on Redis, shaped as the Cells Go services send it
 * (gateway/websocket, idm/meta UpdateUserMeta, broker/chat handler; policies written by
 * encoding/json, so enums are numbers and zero values are left out).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Backend, Client, REDIS_URL, SECRET, sleep, startInstance, testChannels, token, waitSubscribed, ws, type Frame, type Instance } from '../support/harness.js';

/** Every event frame carries its place in the history (PROTOCOL 6). */
const OFFSET = expect.stringMatching(/^\d+-\d+@[0-9a-f]+$/);

const tag = randomBytes(4).toString('hex');
const W1 = ws('w1', 'projects', 'pydiods1/projects');
const W2 = ws('w2', 'common', 'pydiods1/common');

type Node = { Uuid?: string; Path?: string; MetaStore?: Record<string, string> };
const nodeOf = (f: Frame) => ((f.Target ?? f.Source) ?? {}) as Node;
const about = (uuid: string) => (f: Frame) => nodeOf(f).Uuid === uuid;

async function metric(app: Instance, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Cells' user-meta policies as idm/meta writes them (jsonx = encoding/json): READ=2, WRITE=3, allow=1, deny=0 left out. */
const policies = (...p: object[]) => JSON.stringify(p);

describe('Cells node events: order across topics, user metas, lookups by uuid', () => {
  let app: Instance;
  let backend: Backend;
  let lookup: Server;
  let ch: Record<string, string>;
  let alice: Client, bob: Client;
  const lookups: string[] = [];
  /** uuid -> path answered by the lookup server; missing: 404. */
  const paths = new Map<string, string>();

  beforeAll(async () => {
    lookup = createServer((req, res) => {
      const uuid = new URL(req.url ?? '/', 'http://x').searchParams.get('uuid') ?? '';
      lookups.push(uuid);
      const path = paths.get(uuid);
      // Slow on purpose: later events of the node must wait behind the lookup, in order.
      setTimeout(() => res.writeHead(path ? 200 : 404, { 'Content-Type': 'application/json' }).end(JSON.stringify(path ? { Node: { Uuid: uuid, Path: path } } : {})), 150);
    });
    await new Promise<void>((resolve) => lookup.listen(0, '127.0.0.1', resolve));
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({
      ...ch,
      REDIS_URL,
      // Cells' own batching: 1 s after the last event of a node.
      NODE_BATCH_WINDOW_MS: '1000',
      NODE_BATCH_MAX_WAIT_MS: '3000',
      NODE_LOOKUP_URL: `http://127.0.0.1:${(lookup.address() as AddressInfo).port}/nodes`,
    });
    await waitSubscribed(backend, ch.CHANNEL_META);
    alice = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice', workspaces: [W1, W2] }));
    bob = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'bob', workspaces: [W1] }));
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    await app?.close();
    await backend?.close();
    await new Promise((resolve) => lookup?.close(resolve));
  });

  it('delivers a CREATE, a meta UPDATE_META and an UPDATE_CONTENT of one node as one CREATE with the tags, counted under tree', async () => {
    const n = `n-order-${tag}`;
    const metaFramesBefore = await metric(app, 'switchboard_frames_sent_total', 'topic="meta"');
    const publishedAt = Date.now();
    await backend.publish(ch.CHANNEL_TREE, { Type: 'CREATE', Target: { Uuid: n, Path: 'pydiods1/projects/photo.jpg', Type: 'LEAF', Etag: 'temporary', Size: '0' } });
    await sleep(50); // time itself is tested: the three events are spread within the coalescing window
    await backend.publish(ch.CHANNEL_META, { Type: 'UPDATE_META', Target: { Uuid: n, Path: 'pydiods1/projects/photo.jpg', MetaStore: { tags: '"holiday"', image_width: '640', image_height: '480' } } });
    await sleep(150); // (the window restarts at each event)
    await backend.publish(ch.CHANNEL_TREE, { Type: 'UPDATE_CONTENT', Target: { Uuid: n, Path: 'pydiods1/projects/photo.jpg', Type: 'LEAF', Etag: 'e-final', Size: '2048' } });

    const first = await bob.next(about(n), 4000);
    expect(first).toEqual({
      Type: 'CREATE',
      Target: {
        Uuid: n,
        Path: 'projects/photo.jpg',
        Type: 'LEAF',
        Etag: 'e-final',
        Size: '2048',
        MetaStore: { tags: '"holiday"', image_width: '640', image_height: '480', EventWorkspaceId: '"w1"' },
      },
      '@offset': OFFSET,
    });
    // Cells' timing: 1 s after the last event.
    expect(Date.now() - publishedAt).toBeGreaterThanOrEqual(1100);
    // Barrier: a later DELETE of the node arrives right after, and nothing came in between.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: n, Path: 'pydiods1/projects/photo.jpg' } });
    await bob.next((f) => f.Type === 'DELETE' && about(n)(f));
    expect(bob.frames.filter(about(n)).map((f) => f.Type)).toEqual(['CREATE', 'DELETE']);
    // The merged frame counts under the topic of the event that opened its batch (tree).
    expect(await metric(app, 'switchboard_frames_sent_total', 'topic="meta"')).toBe(metaFramesBefore);
  });

  it('sends a pending batch before a later DELETE of the same node, whatever topic each came on', async () => {
    const n = `n-flush-${tag}`;
    await backend.publish(ch.CHANNEL_META, { Type: 'UPDATE_META', Target: { Uuid: n, Path: 'pydiods1/projects/old.txt', MetaStore: { tags: '"x"' } } });
    await sleep(20); // time itself is tested: the DELETE comes while the UPDATE_META is pending in its window
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: n, Path: 'pydiods1/projects/old.txt' } });
    await bob.next((f) => f.Type === 'DELETE' && about(n)(f));
    expect(bob.frames.filter(about(n)).map((f) => f.Type)).toEqual(['UPDATE_META', 'DELETE']);
  });

  it('delivers the UPDATE_USER_META of idm/meta (policies on a Source without Path) to the users its policies allow, without the Source', async () => {
    const n = `n-bookmark-${tag}`;
    const event = {
      Type: 'UPDATE_USER_META',
      Source: { Uuid: n, MetaStore: { bookmark: '', 'pydio:meta-policies': policies({ Resource: n, Action: 2, Subject: 'user:alice', Effect: 1 }, { Resource: n, Action: 3, Subject: 'user:alice', Effect: 1 }) } },
      Target: { Uuid: n, Path: 'pydiods1/projects/report.pdf', Type: 'LEAF', Size: '12', MetaStore: { bookmark: 'true', name: '"report.pdf"' } },
    };
    await backend.publish(ch.CHANNEL_META, event);
    expect(await alice.next(about(n))).toEqual({
      Type: 'UPDATE_USER_META',
      Target: { Uuid: n, Path: 'projects/report.pdf', Type: 'LEAF', Size: '12', MetaStore: { bookmark: 'true', name: '"report.pdf"', EventWorkspaceId: '"w1"' } },
      '@offset': OFFSET,
    });
    // A deny left out by encoding/json (Effect 0) wins over an allow for everyone.
    const m = `n-denied-${tag}`;
    await backend.publish(ch.CHANNEL_META, {
      Type: 'UPDATE_USER_META',
      Source: { Uuid: m, MetaStore: { tags: '"a"', 'pydio:meta-policies': policies({ Action: 2, Subject: '*', Effect: 1 }, { Action: 2, Subject: 'user:bob' }) } },
      Target: { Uuid: m, Path: 'pydiods1/projects/shared.txt', MetaStore: { tags: '"b"' } },
    });
    await alice.next(about(m));
    // Barrier for bob: a later event he sees.
    const sentinel = `n-sentinel-${tag}`;
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: sentinel, Path: 'pydiods1/projects/gone.txt' } });
    await bob.next(about(sentinel));
    expect(bob.frames.filter((f) => f.Type === 'UPDATE_USER_META')).toEqual([]);
  });

  it('locates the pathless comments UPDATE_USER_META of a NODE chat room by uuid, keeps the node order, and caches the answer', async () => {
    const n = `n-comment-${tag}`;
    paths.set(n, '/pydiods1/common/plan.md');
    const comment = (text: string) => ({ Type: 'UPDATE_USER_META', Target: { Uuid: n, MetaStore: { comments: JSON.stringify(text) } } });
    await backend.publish(ch.CHANNEL_META, comment('first'));
    // Published while the first one is being looked up: must not overtake it.
    await backend.publish(ch.CHANNEL_TREE, { Type: 'UPDATE_PATH', Source: { Uuid: n, Path: 'pydiods1/common/plan.md' }, Target: { Uuid: n, Path: 'pydiods1/common/plan-v2.md' } });
    await alice.next((f) => f.Type === 'UPDATE_PATH' && about(n)(f));
    expect(alice.frames.filter(about(n))).toEqual([
      { Type: 'UPDATE_USER_META', Target: { Uuid: n, Path: 'common/plan.md', MetaStore: { comments: '"first"', EventWorkspaceId: '"w2"' } }, '@offset': OFFSET },
      {
        Type: 'UPDATE_PATH',
        Source: { Uuid: n, Path: 'common/plan.md', MetaStore: { EventWorkspaceId: '"w2"' } },
        Target: { Uuid: n, Path: 'common/plan-v2.md', MetaStore: { EventWorkspaceId: '"w2"' } },
        '@offset': OFFSET,
      },
    ]);
    // The next comment needs no request: the cached path, moved as the bus said.
    await backend.publish(ch.CHANNEL_META, comment('second'));
    expect(await alice.next((f) => nodeOf(f).MetaStore?.comments === '"second"')).toMatchObject({ Target: { Path: 'common/plan-v2.md' } });
    expect(lookups.filter((u) => u === n)).toHaveLength(1);
    // bob does not see the node's workspace.
    const sentinel = `n-sentinel2-${tag}`;
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: sentinel, Path: 'pydiods1/projects/gone2.txt' } });
    await bob.next(about(sentinel));
    expect(bob.frames.filter(about(n))).toEqual([]);
  });

  it('drops and counts a pathless event the lookup cannot locate', async () => {
    const n = `n-unknown-${tag}`;
    const before = await metric(app, 'switchboard_events_dropped_total', 'reason="lookup_failed"');
    await backend.publish(ch.CHANNEL_META, { Type: 'UPDATE_USER_META', Target: { Uuid: n, MetaStore: { comments: '"lost"' } } });
    await backend.publish(ch.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: n, Path: 'pydiods1/projects/unknown.txt' } });
    await alice.next((f) => f.Type === 'DELETE' && about(n)(f));
    expect(alice.frames.filter(about(n)).map((f) => f.Type)).toEqual(['DELETE']);
    expect(await metric(app, 'switchboard_events_dropped_total', 'reason="lookup_failed"')).toBe(before + 1);
  });

  it('without NODE_LOOKUP_URL, drops and counts a pathless event', async () => {
    const chOther = testChannels();
    const other = await startInstance({ ...chOther, REDIS_URL });
    try {
      await waitSubscribed(backend, chOther.CHANNEL_META);
      const c = await Client.subscribed(`${other.wsUrl}/ws`, token({ name: 'alice', workspaces: [W1] }));
      const n = `n-nolookup-${tag}`;
      await backend.publish(chOther.CHANNEL_META, { Type: 'UPDATE_USER_META', Target: { Uuid: n, MetaStore: { comments: '"x"' } } });
      await backend.publish(chOther.CHANNEL_TREE, { Type: 'DELETE', Source: { Uuid: n, Path: 'pydiods1/projects/x.txt' } });
      await c.next(about(n));
      expect(c.frames.filter(about(n)).map((f) => f.Type)).toEqual(['DELETE']);
      expect(await metric(other, 'switchboard_events_dropped_total', 'reason="no_path"')).toBe(1);
      c.close();
    } finally {
      await other.close();
    }
  });
});

describe('Cells chat service deletions', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL });
    await waitSubscribed(backend, ch.CHANNEL_CHAT);
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  it('treats {"Message":...,"Details":"DELETE"} from the chat service as a deletion, never as the message again', async () => {
    const W = ws(`w-${tag}-chatdel`, 'chat', 'pydiods1/chat');
    const alice = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'alice', workspaces: [W] }));
    try {
      const Room = { Type: 'WORKSPACE', RoomTypeObject: W.uuid };
      alice.send({ '@type': 'JOIN', Room });
      const room = (await alice.next((f) => f['@type'] === 'ROOM_UPDATE')).Room as { Uuid: string };
      alice.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: 'oops' } });
      const posted = await alice.next((f) => f.Message === 'oops');
      // broker/chat DeleteMessage: protojson of the ChatEvent (int64 Timestamp as a string).
      await backend.publish(ch.CHANNEL_CHAT, { Message: posted, Room: { Uuid: room.Uuid, Type: 'WORKSPACE', RoomTypeObject: W.uuid }, Details: 'DELETE' });
      expect(await alice.next((f) => f['@type'] === 'DELETE_MSG')).toEqual({ '@type': 'DELETE_MSG', Message: posted });
      // Barrier: a later message; the deleted one never came back in between.
      alice.send({ '@type': 'POST', Message: { RoomUuid: room.Uuid, Message: 'after' } });
      await alice.next((f) => f.Message === 'after');
      expect(alice.frames.filter((f) => f.Message === 'oops' && f['@type'] === undefined)).toHaveLength(1);
    } finally {
      alice.close();
    }
  });
});

describe('token renewal without a gap', () => {
  let app: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  const LIFETIME = 8;

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    app = await startInstance({ ...ch, REDIS_URL, TOKEN_EXPIRY_GRACE_SECONDS: '2', TOKEN_RENEW_BEFORE_SECONDS: '4' });
    await waitSubscribed(backend, ch.CHANNEL_TASKS);
  });

  afterAll(async () => {
    await app?.close();
    await backend?.close();
  });

  /** What PydioWebSocket does: on any idm frame, reload workspaces (debounced 500 ms), then subscribe with getOrUpdateJwt(). */
  function actLikeCells(c: Client, name: string, state: { jwt: string; exp: number; renewals: number }): void {
    let debounce: NodeJS.Timeout | undefined;
    c.socket.on('message', (data) => {
      if ((JSON.parse(data.toString()) as Frame)['@type'] !== 'idm') return;
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        // RestClient.getAuthToken: a new token only when the current one expires within 5 s.
        if (state.exp < Date.now() / 1000 + 5) {
          state.jwt = token({ name }, { expiresIn: LIFETIME });
          state.exp = Math.floor(Date.now() / 1000) + LIFETIME;
          state.renewals++;
        }
        c.send({ '@type': 'subscribe', jwt: state.jwt });
      }, 500);
    });
  }

  it('an unmodified Cells client (renews on idm frames) and a Switchboard-aware one (renews on expiring) lose no event across several token lifetimes', async () => {
    const cellsState = { jwt: token({ name: 'alice' }, { expiresIn: LIFETIME }), exp: Math.floor(Date.now() / 1000) + LIFETIME, renewals: 0 };
    const cells = await Client.subscribed(`${app.wsUrl}/ws`, cellsState.jwt);
    actLikeCells(cells, 'alice', cellsState);
    const aware = await Client.subscribed(`${app.wsUrl}/ws`, token({ name: 'alice' }, { expiresIn: LIFETIME }));
    let awareRenewals = 0;
    aware.socket.on('message', (data) => {
      if ((JSON.parse(data.toString()) as Frame)['@type'] !== 'expiring') return;
      awareRenewals++;
      aware.send({ '@type': 'subscribe', jwt: token({ name: 'alice' }, { expiresIn: LIFETIME }) });
    });
    // /chat gets neither notice (the Cells chat UI could show it as a message): it expires as before.
    const chat = await Client.subscribed(`${app.wsUrl}/chat`, token({ name: 'alice' }, { expiresIn: LIFETIME }));
    let closedEarly = false;
    void cells.closed.then(() => (closedEarly = true));
    void aware.closed.then(() => (closedEarly = true));

    // 13 s: past the first token's end of grace (8 + 2 s), which closed the session before.
    const ids: string[] = [];
    const end = Date.now() + 13_000;
    for (let i = 0; Date.now() < end; i++) {
      const id = `t-${tag}-${i}`;
      ids.push(id);
      await backend.publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: id, TriggerOwner: 'alice', Status: 'Running' }, Job: { ID: 'j' } });
      await sleep(100); // time itself is tested: a steady stream across the token's expiry and renewal
    }
    const last = ids[ids.length - 1];
    const isTask = (f: Frame) => typeof (f.TaskUpdated as { ID?: string } | undefined)?.ID === 'string';
    for (const c of [cells, aware]) {
      await c.next((f) => (f.TaskUpdated as { ID?: string } | undefined)?.ID === last);
      expect(c.frames.filter(isTask).map((f) => (f.TaskUpdated as { ID: string }).ID)).toEqual(ids);
    }
    expect(closedEarly).toBe(false);
    expect(cellsState.renewals).toBeGreaterThanOrEqual(1);
    expect(awareRenewals).toBeGreaterThanOrEqual(2);
    expect(cells.frames.filter((f) => f['@type'] === 'error')).toEqual([]);
    // The aware client renewed on `expiring`, before any prompt was due.
    expect(aware.frames.filter((f) => f['@type'] === 'idm')).toEqual([]);
    expect(aware.frames.find((f) => f['@type'] === 'expiring')).toEqual({ '@type': 'expiring', expiresAt: expect.any(Number) });
    expect(await chat.closed).toEqual({ code: 4401, reason: 'token expired' });
    expect(chat.frames.filter((f) => f['@type'] === 'expiring' || f['@type'] === 'idm')).toEqual([]);
    cells.close();
    aware.close();
  }, 25_000);
});

describe('a deleted user stays out, on every instance', () => {
  let a: Instance, b: Instance;
  let backend: Backend;
  let ch: Record<string, string>;
  const clients: Client[] = [];
  const jwt = new JwtService({ secret: SECRET });

  beforeAll(async () => {
    ch = testChannels();
    backend = new Backend();
    [a, b] = await Promise.all([startInstance({ ...ch, REDIS_URL }), startInstance({ ...ch, REDIS_URL })]);
    await waitSubscribed(backend, ch.CHANNEL_IDM, 2);
  });

  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend?.close();
  });

  const connect = async (inst: Instance, t: string) => {
    const c = await Client.connect(`${inst.wsUrl}/ws`);
    clients.push(c);
    c.send({ '@type': 'subscribe', jwt: t });
    await c.next((f) => f['@type'] === 'subscribed' || f['@type'] === 'error');
    return c;
  };

  it('refuses, with 4403, the tokens issued before the deletion on any instance (one started later too), and accepts a new one', async () => {
    const login = `dora-${tag}`;
    const old = token({ name: login, sub: `uuid-${login}` });
    const onA = await connect(a, old);
    expect(onA.frames[0]).toMatchObject({ '@type': 'subscribed' });

    // What idm/user publishes on a deletion (protojson of idm.ChangeEvent).
    await backend.publish(ch.CHANNEL_IDM, { Type: 'DELETE', User: { Uuid: `uuid-${login}`, Login: login, GroupPath: '/' } });
    expect(await onA.closed).toEqual({ code: 4403, reason: 'user removed' });

    // reconnecting-websocket reconnects at once with the same, still valid token.
    for (const inst of [b, a]) {
      const again = await connect(inst, old);
      expect(again.frames[0]).toEqual({ '@type': 'error', error: 'user removed', code: 'user_removed' });
      expect(await again.closed).toEqual({ code: 4403, reason: 'user removed' });
    }
    // A token without iat cannot prove it is newer.
    const noIat = jwt.sign({ name: login, sub: `uuid-${login}` }, { expiresIn: 3600, noTimestamp: true });
    expect((await connect(b, noIat)).frames[0]).toEqual({ '@type': 'error', error: 'user removed', code: 'user_removed' });

    // An instance that never saw the event learns it from Redis.
    const c = await startInstance({ ...ch, REDIS_URL });
    try {
      const late = await connect(c, old);
      expect(await late.closed).toEqual({ code: 4403, reason: 'user removed' });
    } finally {
      await c.close();
    }

    // A token issued after the deletion (iat is in whole seconds: from the next second on).
    await sleep(1000 - (Date.now() % 1000) + 10); // time itself: iat counts whole seconds
    const fresh = await connect(b, token({ name: login, sub: `uuid-${login}` }));
    expect(fresh.frames[0]).toMatchObject({ '@type': 'subscribed', user: login });
  });
});
