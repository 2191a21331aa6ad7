import { describe, it, expect } from '@jest/globals';
import { SessionRegistry, identityKeys, type IdentityChange, type RootHolder } from '../../src/sessions/session-registry.js';
import { nextStamp, Session } from '../../src/sessions/session.js';
import type { Identity, Workspace } from '../../src/auth/identity.js';
import { visibleRoot } from '../../src/topics/node-event.js';

const fakeSocket = { readyState: 1, OPEN: 1, send: () => undefined };
const fakeOutbox = { push: () => undefined, drop: () => undefined };
const newSession = (): Session => new Session('events', fakeSocket as never, fakeOutbox as never, () => undefined);

const ws = (uuid: string, ...paths: string[]): Workspace => ({ uuid, slug: uuid, roots: paths.map((path) => ({ path })) });

function identity(user: string, extra: Partial<Identity> = {}): Identity {
  const profile = extra.profile ?? 'standard';
  const roles = extra.roles ?? [];
  return {
    user,
    subject: `sub-${user}`,
    profile,
    roles,
    workspaces: [],
    subjects: ['*', `user:${user}`, `profile:${profile}`, ...roles.map((r) => `role:${r}`)],
    ...extra,
  };
}

/** A session added to the registry and subscribed as `id`. */
function subscribed(registry: SessionRegistry, id: Identity): Session {
  const s = newSession();
  registry.add(s);
  registry.setIdentity(s, id);
  return s;
}

const holders = (list: RootHolder[]): [Session, string][] => list.map((h) => [h.session, h.workspace.uuid]);

describe('identityKeys', () => {
  it.each<[string, Identity, string[]]>([
    ['bare', identity('alice'), ['user:alice', 'subject:sub-alice', 'profile:standard']],
    [
      'roles and workspaces',
      identity('bob', { profile: 'admin', roles: ['R1', 'R2'], workspaces: [ws('w1', 'a'), ws('w2')] }),
      ['user:bob', 'subject:sub-bob', 'profile:admin', 'role:R1', 'role:R2', 'ws:w1', 'ws:w2'],
    ],
  ])('%s', (_name, id, keys) => {
    expect(identityKeys(id)).toEqual(keys);
  });
});

describe('SessionRegistry: ids and keys', () => {
  it('adds, gets, counts and lists sessions', () => {
    const r = new SessionRegistry();
    const a = newSession();
    const b = newSession();
    r.add(a);
    r.add(b);
    expect(r.size).toBe(2);
    expect(r.get(a.id)).toBe(a);
    expect(r.get('nope')).toBeUndefined();
    expect(new Set(r.all())).toEqual(new Set([a, b]));
  });

  it('an added but unsubscribed session is found under no key', () => {
    const r = new SessionRegistry();
    const s = newSession();
    r.add(s);
    expect(r.withKeys(['user:alice']).size).toBe(0);
  });

  it.each<[string, string[], string[]]>([
    ['one user key', ['user:alice'], ['alice']],
    ['subject key', ['subject:sub-bob'], ['bob']],
    ['profile key', ['profile:standard'], ['alice', 'bob']],
    ['profile admin', ['profile:admin'], ['carol']],
    ['role key', ['role:R1'], ['alice', 'carol']],
    ['workspace key', ['ws:w2'], ['bob', 'carol']],
    ['union of two users', ['user:alice', 'user:bob'], ['alice', 'bob']],
    ['union counts each session once', ['role:R1', 'user:alice', 'profile:admin'], ['alice', 'carol']],
    ['unknown key', ['user:nobody'], []],
    ['no keys', [], []],
  ])('withKeys: %s', (_name, keys, users) => {
    const r = new SessionRegistry();
    subscribed(r, identity('alice', { roles: ['R1'], workspaces: [ws('w1', 'a')] }));
    subscribed(r, identity('bob', { workspaces: [ws('w2', 'b')] }));
    subscribed(r, identity('carol', { profile: 'admin', roles: ['R1'], workspaces: [ws('w2', 'b')] }));
    const found = r.withKeys(keys);
    expect([...found].map((s) => s.user).sort()).toEqual(users);
  });

  it('two sessions of one user are both found', () => {
    const r = new SessionRegistry();
    const a1 = subscribed(r, identity('alice'));
    const a2 = subscribed(r, identity('alice'));
    expect(r.withKeys(['user:alice'])).toEqual(new Set([a1, a2]));
  });
});

describe('SessionRegistry: a key held by one session, then more, then one again', () => {
  it('finds every holder through each step', () => {
    const r = new SessionRegistry();
    const [a, b, c] = [subscribed(r, identity('alice')), subscribed(r, identity('alice')), subscribed(r, identity('alice'))];
    const found = () => new Set(r.withKeys(['user:alice']));
    expect(found()).toEqual(new Set([a, b, c]));
    r.setIdentity(b, undefined);
    expect(found()).toEqual(new Set([a, c]));
    r.setIdentity(a, undefined);
    expect(found()).toEqual(new Set([c]));
    expect(r.withKeys(['user:alice', 'user:bob'])).toEqual(new Set([c]));
    r.setIdentity(a, identity('alice'));
    expect(found()).toEqual(new Set([a, c]));
    r.setIdentity(c, undefined);
    r.setIdentity(a, undefined);
    expect(found().size).toBe(0);
  });

  it('indexing a session twice under a key keeps it once, and one unindex removes it', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice'));
    r.joinRoom(s, 'lobby');
    r.joinRoom(s, 'lobby');
    expect(r.withKeys(['room:lobby'])).toEqual(new Set([s]));
    r.leaveRoom(s, 'lobby');
    expect(r.withKeys(['room:lobby']).size).toBe(0);
    expect(s.rooms.size).toBe(0);
  });

  it('two workspaces of one session at the same root are both found, and both go', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a'), ws('w2', 'ds/a')] }));
    expect(holders(r.rootHolders('ds/a/f'))).toEqual([[s, 'w1'], [s, 'w2']]);
    r.removeWorkspace('w1');
    expect(holders(r.rootHolders('ds/a/f'))).toEqual([[s, 'w2']]);
    r.setIdentity(s, undefined);
    expect(r.rootHolders('ds/a/f')).toEqual([]);
  });
});

describe('SessionRegistry.rootHolders', () => {
  it.each<[string, string | undefined, boolean]>([
    ['a descendant', 'a/b/c/d', true],
    ['a direct child', 'a/b/c', true],
    ['the root itself', 'a/b', true],
    ['a sibling sharing a prefix', 'a/bc', false],
    ['a sibling sharing a prefix, deeper', 'a/bc/d', false],
    ['the parent of the root', 'a', false],
    ['another tree', 'x/a/b', false],
    ['empty path', '', false],
    ['undefined path', undefined, false],
  ])('root "a/b", path %s (%s)', (_name, path, found) => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { workspaces: [ws('w1', 'a/b')] }));
    expect(holders(r.rootHolders(path))).toEqual(found ? [[s, 'w1']] : []);
  });

  it('finds two sessions holding two workspaces', () => {
    const r = new SessionRegistry();
    const alice = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/projects')] }));
    const bob = subscribed(r, identity('bob', { workspaces: [ws('w2', 'ds/projects/x')] }));
    subscribed(r, identity('carol', { workspaces: [ws('w3', 'ds/other')] }));
    const found = holders(r.rootHolders('ds/projects/x/file.txt'));
    expect(found).toHaveLength(2);
    expect(found).toEqual(expect.arrayContaining([[alice, 'w1'], [bob, 'w2']]));
    expect(holders(r.rootHolders('ds/projects/y'))).toEqual([[alice, 'w1']]);
  });

  it('one session holding two workspaces on the same root gets one holder per workspace', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/p'), ws('w2', 'ds/p')] }));
    expect(holders(r.rootHolders('ds/p/f'))).toEqual([[s, 'w1'], [s, 'w2']]);
  });

  it('nested roots of one workspace are returned per root, shallowest first', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a', 'ds/a/b')] }));
    const found = r.rootHolders('ds/a/b/c');
    expect(holders(found)).toEqual([[s, 'w1'], [s, 'w1']]);
    expect(holders(r.rootHolders('ds/a/x'))).toEqual([[s, 'w1']]);
  });

  it('returns the workspace object itself (with slug and roots)', () => {
    const r = new SessionRegistry();
    const w = ws('w1', 'ds/p');
    subscribed(r, identity('alice', { workspaces: [w] }));
    expect(r.rootHolders('ds/p/x')[0].workspace).toBe(w);
  });
});

describe('SessionRegistry.setIdentity', () => {
  it('re-subscribing as another user leaves no stale index entries', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { roles: ['R1'], workspaces: [ws('w1', 'ds/a')] }));
    r.setIdentity(s, identity('bob', { profile: 'admin', roles: ['R2'], workspaces: [ws('w2', 'ds/b')] }));
    for (const key of ['user:alice', 'subject:sub-alice', 'profile:standard', 'role:R1', 'ws:w1']) {
      expect(r.withKeys([key]).size).toBe(0);
    }
    expect(r.rootHolders('ds/a/f')).toEqual([]);
    for (const key of ['user:bob', 'subject:sub-bob', 'profile:admin', 'role:R2', 'ws:w2']) {
      expect(r.withKeys([key])).toEqual(new Set([s]));
    }
    expect(holders(r.rootHolders('ds/b/f'))).toEqual([[s, 'w2']]);
    expect(s.user).toBe('bob');
  });

  it('re-subscribing as the same user with fewer workspaces drops the old ones', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a'), ws('w2', 'ds/b')] }));
    r.setIdentity(s, identity('alice', { workspaces: [ws('w2', 'ds/b')] }));
    expect(r.withKeys(['ws:w1']).size).toBe(0);
    expect(r.rootHolders('ds/a/f')).toEqual([]);
    expect(holders(r.rootHolders('ds/b/f'))).toEqual([[s, 'w2']]);
    expect(r.withKeys(['user:alice'])).toEqual(new Set([s]));
  });

  it('re-subscribing one session leaves another session of the old user indexed', () => {
    const r = new SessionRegistry();
    const s1 = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a')] }));
    const s2 = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a')] }));
    r.setIdentity(s1, identity('bob'));
    expect(r.withKeys(['user:alice'])).toEqual(new Set([s2]));
    expect(holders(r.rootHolders('ds/a/f'))).toEqual([[s2, 'w1']]);
  });

  it('unsubscribing (undefined) clears every key but keeps the session registered', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { roles: ['R1'], workspaces: [ws('w1', 'ds/a')] }));
    r.setIdentity(s, undefined);
    expect(s.identity).toBeUndefined();
    expect(r.withKeys(['user:alice', 'role:R1', 'ws:w1', 'profile:standard']).size).toBe(0);
    expect(r.rootHolders('ds/a/f')).toEqual([]);
    expect(r.get(s.id)).toBe(s);
  });
});

describe('SessionRegistry identity changes: what was queued, and the listeners', () => {
  /** A session whose outbox records its drops. */
  function watched(r: SessionRegistry, id: Identity) {
    const drops: (string | undefined)[] = [];
    const s = new Session('events', fakeSocket as never, { push: () => undefined, drop: (keep?: string) => void drops.push(keep) } as never, () => undefined);
    r.add(s);
    void r.setIdentity(s, id);
    return { s, drops };
  }
  const W1 = ws('w1', 'ds/a');
  const W2 = ws('w2', 'ds/b');

  it.each<[string, Identity | undefined, boolean]>([
    ['token refresh, same rights', identity('alice', { roles: ['R1'], workspaces: [W1] }), false],
    ['token refresh, one more workspace', identity('alice', { roles: ['R1'], workspaces: [W1, W2] }), false],
    ['token refresh, one more role', identity('alice', { roles: ['R1', 'R2'], workspaces: [W1] }), false],
    ['one workspace fewer', identity('alice', { roles: ['R1'] }), true],
    ['one role fewer', identity('alice', { workspaces: [W1] }), true],
    ['a workspace root fewer', identity('alice', { roles: ['R1'], workspaces: [ws('w1', 'ds/other')] }), true],
    ['another profile', identity('alice', { profile: 'shared', roles: ['R1'], workspaces: [W1] }), true],
    ['another user with the same rights', identity('bob', { roles: ['R1'], workspaces: [W1] }), true],
    ['unsubscribe', undefined, true],
  ])('%s: queued frames dropped = %s', async (_name, next, dropped) => {
    const r = new SessionRegistry();
    const changes: IdentityChange[] = [];
    r.onIdentityChange((c) => void changes.push(c));
    const { s, drops } = watched(r, identity('alice', { roles: ['R1'], workspaces: [W1] }));
    const jobBefore = nextStamp();
    await r.setIdentity(s, next, 'tok');
    expect(drops).toEqual(dropped ? [undefined] : []);
    // A fan-out job built before the change no longer reaches the session when what it had was dropped.
    expect(s.accepts(jobBefore)).toBe(!dropped);
    expect(changes.at(-1)).toMatchObject({ session: s, narrowed: dropped, token: 'tok' });
    expect(changes.at(-1)!.previous?.user).toBe('alice');
  });

  it('a subscribe waits for the listeners (setIdentity settles after them)', async () => {
    const r = new SessionRegistry();
    const done: string[] = [];
    r.onIdentityChange(async ({ session }) => {
      const user = session.user ?? '-';
      await new Promise((resolve) => setTimeout(resolve, 5));
      done.push(user);
    });
    const { s } = watched(r, identity('alice'));
    await r.setIdentity(s, identity('bob'));
    expect(done).toEqual(['alice', 'bob']);
  });

  it('removeWorkspace drops what was queued for its holders, but for the idm frames, and tells the listeners', () => {
    const r = new SessionRegistry();
    const changes: IdentityChange[] = [];
    r.onIdentityChange((c) => void changes.push(c));
    const alice = watched(r, identity('alice', { workspaces: [W1, W2] }));
    const carol = watched(r, identity('carol', { workspaces: [W2] }));
    changes.length = 0;
    r.removeWorkspace('w1');
    expect(alice.drops).toEqual(['idm']);
    expect(carol.drops).toEqual([]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ session: alice.s, narrowed: true, token: undefined });
    expect(alice.s.identity!.workspaces.map((w) => w.uuid)).toEqual(['w2']);
  });
});

describe('SessionRegistry.removeWorkspace', () => {
  it('takes the workspace away from every holder and returns them', () => {
    const r = new SessionRegistry();
    const alice = subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a'), ws('w2', 'ds/b')] }));
    const bob = subscribed(r, identity('bob', { workspaces: [ws('w1', 'ds/a')] }));
    const carol = subscribed(r, identity('carol', { workspaces: [ws('w2', 'ds/b')] }));
    const removed = r.removeWorkspace('w1');
    expect(new Set(removed)).toEqual(new Set([alice, bob]));
    expect(r.withKeys(['ws:w1']).size).toBe(0);
    expect(r.rootHolders('ds/a/f')).toEqual([]);
    expect(alice.identity!.workspaces.map((w) => w.uuid)).toEqual(['w2']);
    expect(bob.identity!.workspaces).toEqual([]);
    expect(holders(r.rootHolders('ds/b/f'))).toEqual(expect.arrayContaining([[alice, 'w2'], [carol, 'w2']]));
    expect(r.withKeys(['user:alice', 'user:bob'])).toEqual(new Set([alice, bob]));
  });

  it('returns nothing for a workspace no one holds', () => {
    const r = new SessionRegistry();
    subscribed(r, identity('alice', { workspaces: [ws('w1', 'ds/a')] }));
    expect(r.removeWorkspace('w9')).toEqual([]);
    expect(r.withKeys(['ws:w1']).size).toBe(1);
  });
});

describe('SessionRegistry rooms and remove', () => {
  it('indexes rooms under room:<name>', () => {
    const r = new SessionRegistry();
    const a = subscribed(r, identity('alice'));
    const b = subscribed(r, identity('bob'));
    r.joinRoom(a, 'lobby');
    r.joinRoom(b, 'lobby');
    r.joinRoom(b, 'slidecast/x');
    expect(r.withKeys(['room:lobby'])).toEqual(new Set([a, b]));
    expect(b.rooms).toEqual(new Set(['lobby', 'slidecast/x']));
    r.leaveRoom(a, 'lobby');
    expect(r.withKeys(['room:lobby'])).toEqual(new Set([b]));
    expect(a.rooms.size).toBe(0);
  });

  it('rooms survive a re-subscribe', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice'));
    r.joinRoom(s, 'lobby');
    r.setIdentity(s, identity('bob'));
    expect(r.withKeys(['room:lobby'])).toEqual(new Set([s]));
  });

  it('remove() forgets the session everywhere', () => {
    const r = new SessionRegistry();
    const s = subscribed(r, identity('alice', { roles: ['R1'], workspaces: [ws('w1', 'ds/a')] }));
    const other = subscribed(r, identity('bob'));
    r.joinRoom(s, 'lobby');
    r.remove(s);
    expect(r.size).toBe(1);
    expect(r.get(s.id)).toBeUndefined();
    expect([...r.all()]).toEqual([other]);
    expect(r.withKeys(['user:alice', 'role:R1', 'ws:w1', 'room:lobby', 'subject:sub-alice']).size).toBe(0);
    expect(r.withKeys(['profile:standard'])).toEqual(new Set([other]));
    expect(r.rootHolders('ds/a/f')).toEqual([]);
    expect(s.rooms.size).toBe(0);
  });

  it('remove() of an unsubscribed session works', () => {
    const r = new SessionRegistry();
    const s = newSession();
    r.add(s);
    r.joinRoom(s, 'lobby');
    r.remove(s);
    expect(r.size).toBe(0);
    expect(r.withKeys(['room:lobby']).size).toBe(0);
  });
});

describe('rootHolders agrees with visibleRoot (the rule of PROTOCOL 3.2, stated in node-event.ts)', () => {
  it.each<[string, string[], string]>([
    ['one root, deeper node', ['a/b'], 'a/b/c/d.txt'],
    ['path equal to root', ['a/b'], 'a/b'],
    ['boundary prefix', ['a/b'], 'a/bc/d'],
    ['nested roots: outermost wins', ['a/b/c', 'a'], 'a/b/c/d'],
    ['sibling roots', ['a/x', 'a/y'], 'a/y/z'],
    ['no root on the way', ['q'], 'a/b'],
  ])('%s', (_name, roots, path) => {
    const registry = new SessionRegistry();
    const workspace = ws('w', ...roots);
    subscribed(registry, identity('alice', { workspaces: [workspace] }));
    const firstRoot = registry.rootHolders(path)[0]?.root;
    expect(firstRoot).toBe(visibleRoot(path, workspace));
  });
});

describe('Session.replayed: a resumed session skips the live copies of what its replay covered', () => {
  it.each<[string, string | undefined, string | undefined, boolean]>([
    ['no replay', undefined, '5-0', false],
    ['an event before the replay end', '5-0', '4-9', true],
    ['the replay end itself', '5-0', '5-0', true],
    ['the next event', '5-0', '5-1', false],
    ['an event without an offset', '5-0', undefined, false],
    ['past 2^53', '9007199254740993-0', '9007199254740992-5', true],
  ])('%s (replayed up to %s, event %s) -> %s', (_name, upTo, offset, skipped) => {
    const s = newSession();
    s.replayedUpTo(upTo);
    expect(s.replayed(offset)).toBe(skipped);
  });
});
