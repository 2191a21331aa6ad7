/**
 * The pure parts of tab sharing (client/src/tabs.ts, client/src/hub.ts): which tokens share, and
 * how the hub multiplexes one session for many tabs, against fake sockets. The election, the
 * channel and the browser's part are proved in Chromium (test/browser/tabs.browser.spec.ts).
 */
import { describe, expect, it } from '@jest/globals';
import type { ConnectionHooks, Link, Status } from '../../client/src/connection.js';
import { Hub, type Endpoint, type HubMessage, type Position, type TabBody, type Term } from '../../client/src/hub.js';
import type { SubscribedFrame } from '../../client/src/protocol.js';
import { identityKey } from '../../client/src/tabs.js';

const jwt = (claims: unknown) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const URL_A = 'ws://a/ws';

describe('identityKey: which tokens share a connection', () => {
  const alice = { name: 'alice', sub: 's-alice', roles: ['r1'], workspaces: [{ uuid: 'w1', roots: [{ path: 'p' }] }], exp: 100, iat: 40 };
  it.each<[string, string, string, boolean]>([
    ['the same token', jwt(alice), jwt(alice), true],
    ['other times (exp, iat, nbf, jti, auth_time)', jwt(alice), jwt({ ...alice, exp: 999, iat: 900, nbf: 1, jti: 'x', auth_time: 2 }), true],
    ['the same claims in another order', jwt(alice), jwt({ workspaces: alice.workspaces, roles: alice.roles, sub: alice.sub, name: alice.name }), true],
    ['nested keys in another order', jwt(alice), jwt({ ...alice, workspaces: [{ roots: [{ path: 'p' }], uuid: 'w1' }] }), true],
    ['another user', jwt(alice), jwt({ ...alice, name: 'bob', sub: 's-bob' }), false],
    ['the same user with another role', jwt(alice), jwt({ ...alice, roles: ['r1', 'r2'] }), false],
    ['the same user with another workspace', jwt(alice), jwt({ ...alice, workspaces: [] }), false],
    ['a claim more', jwt(alice), jwt({ ...alice, profile: 'admin' }), false],
    ['a token that is not a JWT and the same string', 'opaque', 'opaque', true],
    ['two tokens that are not JWTs', 'opaque-1', 'opaque-2', false],
    ['a JWT whose body is not an object, and another', jwt([1]), jwt([2]), false],
  ])('%s', (_name, a, b, shared) => {
    expect(identityKey(URL_A, a) === identityKey(URL_A, b)).toBe(shared);
  });

  it('never shares between two services', () => {
    expect(identityKey(URL_A, jwt(alice))).not.toBe(identityKey('ws://b/ws', jwt(alice)));
  });
});

/** A socket the test drives: what the hub sends is recorded, what the server says is handed to the hooks. */
class FakeLink implements Link {
  status: Status = { state: 'offline', reason: 'stopped' };
  live = false;
  started = false;
  readonly sent: Record<string, unknown>[] = [];
  constructor(readonly hooks: ConnectionHooks) {}
  start(): void {
    if (this.started) return; // as Connection.start()
    this.started = true;
    this.status = { state: 'connecting' };
  }
  retryNow(): void {}
  send(frame: unknown): boolean {
    this.sent.push(frame as Record<string, unknown>);
    return true;
  }
  stop(): void {
    this.started = false;
  }
  drop(): void {}
  offline(): void {}
  online(): void {}
  visible(): void {}
  /** A new session: the subscribe's extras, then the ack. */
  up(sessionId = 'sid'): Record<string, string> {
    const extras = this.hooks.subscribeExtras?.() ?? {};
    this.live = true;
    this.status = { state: 'live' };
    this.hooks.subscribed({ '@type': 'subscribed', sessionId, user: 'alice', workspaces: [] } as unknown as SubscribedFrame, true);
    return extras;
  }
  down(): void {
    this.live = false;
    this.hooks.disconnected();
  }
  server(frame: unknown): void {
    this.hooks.frame(frame);
  }
}

const TERM: Term = [5, 'hub'];

function setup() {
  const posted: HubMessage[] = [];
  const links: { [E in Endpoint]?: FakeLink } = {};
  const gone = new Map<string, () => void>();
  const hub = new Hub({
    term: TERM,
    connect: (ep, hooks) => (links[ep] = new FakeLink(hooks)),
    post: (m) => posted.push(m),
    watch: (tab, fn) => gone.set(tab, fn),
    pingGapMs: 60_000,
  });
  const from = (tab: string, body: TabBody) => hub.receive({ ...body, from: tab });
  const hello = (tab: string, eps: Endpoint[] = ['ws'], last?: Position) => from(tab, { t: 'hello', eps, last });
  const send = (tab: string, ep: Endpoint, frame: Record<string, unknown>, term = TERM) => from(tab, { t: 'send', term, ep, frame });
  /** The frames posted from now on, with the tabs each is for (`all` when for every tab). */
  const watch = () => {
    const start = posted.length;
    return () => posted.slice(start).flatMap((m) => (m.t === 'frame' ? [[m.frame, m.to ?? 'all'] as const] : []));
  };
  return { hub, posted, links, gone, from, hello, send, watch };
}

describe('Hub: one session for many tabs', () => {
  it('joins a push room once for the tabs holding it, answers each tab, and leaves it with the last', () => {
    const { links, hello, send, watch } = setup();
    for (const tab of ['a', 'b', 'c']) hello(tab);
    const ws = links.ws!;
    ws.up();
    const room = (r: Record<string, unknown>) => ({ '@type': 'room', room: 'R', ...r });
    let frames = watch();
    send('a', 'ws', { '@type': 'joinRoom', room: 'R' });
    send('b', 'ws', { '@type': 'joinRoom', room: 'R' }); // while the server has not answered
    expect(ws.sent).toEqual([{ '@type': 'joinRoom', room: 'R' }]);
    ws.server(room({ joined: true }));
    send('c', 'ws', { '@type': 'joinRoom', room: 'R' }); // answered already: the same answer, nothing sent
    expect(ws.sent).toHaveLength(1);
    expect(frames()).toEqual([
      [room({ joined: true }), ['a', 'b']],
      [room({ joined: true }), ['c']],
    ]);

    frames = watch();
    send('a', 'ws', { '@type': 'leaveRoom', room: 'R' });
    send('b', 'ws', { '@type': 'leaveRoom', room: 'R' });
    expect(ws.sent).toHaveLength(1); // c still holds it
    send('c', 'ws', { '@type': 'leaveRoom', room: 'R' });
    expect(ws.sent.at(-1)).toEqual({ '@type': 'leaveRoom', room: 'R' });
    ws.server(room({ joined: false, left: true })); // the server's answer to the hub's leave: for nobody
    expect(frames()).toEqual([
      [room({ joined: false, left: true }), ['a']],
      [room({ joined: false, left: true }), ['b']],
      [room({ joined: false, left: true }), ['c']],
      [room({ joined: false, left: true }), []],
    ]);
  });

  it('gives a refusal or a revocation to the tabs of the room, and joins it again for the next tab', () => {
    const { links, hello, send, watch } = setup();
    hello('a');
    hello('b');
    links.ws!.up();
    send('a', 'ws', { '@type': 'joinRoom', room: 'R' });
    send('b', 'ws', { '@type': 'joinRoom', room: 'R' });
    const frames = watch();
    links.ws!.server({ '@type': 'room', room: 'R', joined: false, left: true, reason: 'workspace not held' });
    send('b', 'ws', { '@type': 'joinRoom', room: 'R' });
    expect(frames()).toEqual([[{ '@type': 'room', room: 'R', joined: false, left: true, reason: 'workspace not held' }, ['a', 'b']]]);
    expect(links.ws!.sent.filter((f) => f['@type'] === 'joinRoom')).toHaveLength(2);
  });

  it('routes a push to a tab to that tab (to none once it is gone), a room push to the tabs holding the room, the rest to all', () => {
    const { links, hello, send, gone, watch } = setup();
    for (const tab of ['a', 'b', 'c']) hello(tab);
    links.ws!.up();
    send('b', 'ws', { '@type': 'joinRoom', room: 'R' });
    const frames = watch();
    const pushes = [{ x: 1, '@tab': 'a' }, { x: 2, '@room': 'R' }, { x: 3, '@room': 'granted-by-a-backend' }, { x: 4 }, [5], { Type: 'DELETE', Source: { Path: 'p' }, '@tab': 'c' }];
    for (const p of pushes) links.ws!.server(p);
    gone.get('a')!();
    links.ws!.server({ x: 6, '@tab': 'a' });
    expect(frames()).toEqual([
      [pushes[0], ['a']],
      [pushes[1], ['b']],
      [pushes[2], 'all'],
      [pushes[3], 'all'],
      [pushes[4], 'all'],
      [pushes[5], 'all'], // a node event is not a push: "@tab" in it routes nothing
      [{ x: 6, '@tab': 'a' }, []],
    ]);
  });

  it('leaves the rooms a tab held alone when it closes without a word, and its socket when no tab uses it', () => {
    const { links, hello, send, gone } = setup();
    hello('a', ['ws', 'chat']);
    hello('b', ['ws']);
    links.ws!.up();
    links.chat!.up();
    send('a', 'ws', { '@type': 'joinRoom', room: 'mine' });
    send('a', 'ws', { '@type': 'joinRoom', room: 'ours' });
    send('b', 'ws', { '@type': 'joinRoom', room: 'ours' });
    send('a', 'chat', { '@type': 'JOIN', Room: { Type: 'GLOBAL', RoomTypeObject: 'lobby' } });
    gone.get('a')!();
    expect(links.ws!.sent.at(-1)).toEqual({ '@type': 'leaveRoom', room: 'mine' });
    expect(links.ws!.sent.filter((f) => f['@type'] === 'leaveRoom')).toHaveLength(1);
    expect(links.chat!.sent.at(-1)).toEqual({ '@type': 'LEAVE', Room: { Type: 'GLOBAL', RoomTypeObject: 'lobby' } });
    expect([links.ws!.started, links.chat!.started]).toEqual([true, false]);
  });

  it('chat: JOIN once and LEAVE with the last tab, one PING per gap, answers to the tab that posted, MAY_HAVE_MORE to the tab that asked', () => {
    const { links, hello, send, watch } = setup();
    hello('a', ['chat']);
    hello('b', ['chat']);
    const chat = links.chat!;
    chat.up();
    const Room = { Type: 'GLOBAL', RoomTypeObject: 'lobby' };
    const history = (Offset: number) => ({ '@type': 'HISTORY', Room, Message: { Message: JSON.stringify({ Offset, Limit: 10 }) } });
    send('a', 'chat', { '@type': 'JOIN', Room });
    send('a', 'chat', history(0));
    send('b', 'chat', { '@type': 'JOIN', Room });
    send('b', 'chat', history(0));
    send('a', 'chat', { '@type': 'JOIN', Room, Message: { Message: 'PING' } });
    send('b', 'chat', { '@type': 'JOIN', Room, Message: { Message: 'PING' } });
    expect(chat.sent.map((f) => f['@type'] + ((f.Message as { Message?: string })?.Message === 'PING' ? ' PING' : ''))).toEqual(['JOIN', 'HISTORY', 'HISTORY', 'JOIN PING']);

    const frames = watch();
    chat.server({ '@type': 'ROOM_UPDATE', Room: { ...Room, Uuid: 'r1', Users: ['alice'] } });
    send('b', 'chat', history(10));
    send('a', 'chat', { '@type': 'POST', id: 'p-a', Message: { RoomUuid: 'r1', Message: 'hi' } });
    send('b', 'chat', { '@type': 'POST', id: 'p-b', Message: { RoomUuid: 'r1', Message: 'x' } });
    chat.server({ '@type': 'MAY_HAVE_MORE', RoomUuid: 'r1', Offset: 10, Limit: 10 }); // the server answers in order
    chat.server({ '@type': 'MAY_HAVE_MORE', RoomUuid: 'r1', Offset: 10, Limit: 10 });
    chat.server({ '@type': 'MAY_HAVE_MORE', RoomUuid: 'r1', Offset: 20, Limit: 10 });
    chat.server({ '@type': 'ack', id: 'p-a', RoomUuid: 'r1', Uuid: 'm1', Seq: 1 });
    chat.server({ '@type': 'error', id: 'p-b', code: 'message_too_long', error: 'too long', Room: { Uuid: 'r1' } });
    chat.server({ Uuid: 'm1', RoomUuid: 'r1', Message: 'hi', Author: 'alice', Timestamp: '1', Seq: 1 });
    expect(frames().map(([f, to]) => [(f as Record<string, unknown>)['@type'] ?? 'message', to])).toEqual([
      ['ROOM_UPDATE', 'all'],
      ['MAY_HAVE_MORE', ['a']],
      ['MAY_HAVE_MORE', ['b']],
      ['MAY_HAVE_MORE', ['b']],
      ['ack', ['a']],
      ['error', ['b']],
      ['message', 'all'],
    ]);

    send('a', 'chat', { '@type': 'LEAVE', Room });
    expect(chat.sent.filter((f) => f['@type'] === 'LEAVE')).toHaveLength(0);
    send('b', 'chat', { '@type': 'LEAVE', Room });
    expect(chat.sent.filter((f) => f['@type'] === 'LEAVE')).toHaveLength(1);
  });

  it('resumes from the newest position the tabs reported, then from its own stream', () => {
    const { links, hello, posted } = setup();
    hello('a', ['ws'], { term: [4, 'x'], n: 5, offset: 'o5' });
    hello('b', ['ws'], { term: [4, 'x'], n: 7, offset: 'o7' });
    hello('c', ['ws'], { term: [3, 'y'], n: 100, offset: 'o100' }); // an older hub's: behind the others
    const ws = links.ws!;
    expect(ws.up()).toEqual({ resumeFrom: 'o7' });
    expect(posted.find((m) => m.t === 'up')).toMatchObject({ first: true, resumed: true });
    ws.server({ Type: 'DELETE', Source: { Path: 'p' }, '@offset': 'o8' });
    ws.down();
    expect(ws.up('sid2')).toEqual({ resumeFrom: 'o8' });
  });

  it('numbers its frames, tells a tab that says hello where each endpoint is, and drops a frame sent to a previous hub', () => {
    const { links, hello, send, posted } = setup();
    hello('a');
    links.ws!.up();
    links.ws!.server({ x: 1 });
    links.ws!.server({ x: 2 });
    hello('b');
    expect(posted.filter((m) => m.t === 'frame').map((m) => (m as { n: number }).n)).toEqual([1, 2]);
    expect(posted.at(-1)).toMatchObject({ t: 'state', to: 'b', term: TERM, tabs: 2, eps: { ws: { status: { state: 'live' }, ack: { sessionId: 'sid' } } } });
    send('b', 'ws', { '@type': 'joinRoom', room: 'R' }, [4, 'hub']);
    expect(links.ws!.sent).toEqual([]);
  });

  it('answers a probe; after close it says nothing and its sockets are stopped', () => {
    const { hub, links, hello, from, posted } = setup();
    hello('a');
    from('b', { t: 'probe' });
    expect(posted.at(-1)).toMatchObject({ t: 'alive', term: TERM });
    hub.close();
    const count = posted.length;
    from('b', { t: 'probe' });
    links.ws!.hooks.status({ state: 'offline' });
    expect(posted).toHaveLength(count);
    expect(links.ws!.started).toBe(false);
  });
});
