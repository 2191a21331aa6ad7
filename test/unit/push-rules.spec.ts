import { describe, expect, it } from '@jest/globals';
import { SchemaError } from '../../src/common/schema.js';
import { admitRoom, globRegExp, parsePushCommand, pushTargets } from '../../src/push/push-rules.js';
import { pushRoute } from '../../src/push/push.topic.js';

const alice = { user: 'alice', workspaces: [{ uuid: 'w1' }, { uuid: 'w2' }] };
const OPEN = ['slidecast/*', 'lobby', 'game-??'];

describe('admitRoom', () => {
  it.each<[string, unknown, typeof alice | undefined, string | null]>([
    ['own user room', 'user:alice', alice, null],
    ['another user room', 'user:bob', alice, 'room of another user'],
    ['a user room whose login only starts like hers', 'user:alice2', alice, 'room of another user'],
    ['held workspace', 'workspace:w1', alice, null],
    ['held workspace with a sub-path', 'workspace:w2/docs/a', alice, null],
    ['workspace not held', 'workspace:w9', alice, 'workspace not held'],
    ['workspace not held, sub-path naming a held one', 'workspace:w9/w1', alice, 'workspace not held'],
    ['workspace with an empty uuid', 'workspace:/w1', alice, 'workspace not held'],
    ['open pattern match', 'slidecast/abc123', alice, null],
    ['open pattern: * spans slashes', 'slidecast/a/b', alice, null],
    ['open literal name', 'lobby', alice, null],
    ['open pattern: ? is one character', 'game-42', alice, null],
    ['open pattern: ? is not two', 'game-420', alice, 'room not open'],
    ['open pattern is anchored at the start', 'x-slidecast/abc', alice, 'room not open'],
    ['open pattern is anchored at the end', 'lobby2', alice, 'room not open'],
    ['no pattern matches', 'secret', alice, 'room not open'],
    ['too long', 'slidecast/' + 'x'.repeat(191), alice, 'room name must be 1 to 200 characters'],
    ['empty', '', alice, 'room name must be 1 to 200 characters'],
    ['control characters', 'slidecast/a\nb', alice, 'room name has control characters'],
    ['DEL character', 'slidecast/a\u007f', alice, 'room name has control characters'],
    ['not a string', 42, alice, 'room must be a string'],
    ['null', null, alice, 'room must be a string'],
    ['unsubscribed', 'slidecast/abc', undefined, 'not subscribed'],
    ['unsubscribed, own-looking user room', 'user:alice', undefined, 'not subscribed'],
  ])('%s', (_name, room, identity, reason) => {
    const result = admitRoom(room, identity, OPEN);
    expect(result).toEqual(reason === null ? { ok: true, room } : { ok: false, reason });
  });

  it('accepts a name of exactly 200 characters', () => {
    expect(admitRoom('slidecast/' + 'x'.repeat(190), alice, OPEN).ok).toBe(true);
  });

  it('admits nothing but user and workspace rooms by default', () => {
    expect(admitRoom('slidecast/abc', alice, [])).toEqual({ ok: false, reason: 'room not open' });
    expect(admitRoom('user:alice', alice, []).ok).toBe(true);
  });

  it('never lets an open pattern admit another user or a foreign workspace', () => {
    expect(admitRoom('user:bob', alice, ['*'])).toEqual({ ok: false, reason: 'room of another user' });
    expect(admitRoom('workspace:w9', alice, ['*'])).toEqual({ ok: false, reason: 'workspace not held' });
    expect(admitRoom('anything', alice, ['*']).ok).toBe(true);
  });
});

describe('globRegExp', () => {
  it('takes regular expression characters literally', () => {
    expect(globRegExp('a.b+(c)').test('a.b+(c)')).toBe(true);
    expect(globRegExp('a.b').test('axb')).toBe(false);
    expect(globRegExp('[ab]').test('a')).toBe(false);
  });
});

describe('parsePushCommand and pushTargets', () => {
  const payload = { some: 'info' };

  it.each<[string, unknown, { keys: string[]; session?: string; tab?: string }]>([
    ['user', { pushToUser: 'alice', payload }, { keys: ['user:alice'] }],
    ['room', { pushToRoom: 'slidecast/abc123', payload }, { keys: ['room:slidecast/abc123'] }],
    ['session', { pushToSession: 's1', payload }, { keys: [], session: 's1' }],
    ['tabWindowId alone (alias)', { tabWindowId: 's1', payload }, { keys: [], session: 's1' }],
    ['user + tabWindowId filter', { pushToUser: 'alice', tabWindowId: 's1', payload }, { keys: ['user:alice'], session: 's1' }],
    ['room + pushToSession filter', { pushToRoom: 'r', pushToSession: 's1', payload }, { keys: ['room:r'], session: 's1' }],
    ['same pushToSession and tabWindowId', { pushToSession: 's1', tabWindowId: 's1', payload }, { keys: [], session: 's1' }],
    ['empty tabWindowId means no filter (websocket-push)', { pushToUser: 'alice', tabWindowId: '', payload }, { keys: ['user:alice'] }],
    ['null tabWindowId means no filter', { pushToUser: 'alice', tabWindowId: null, payload }, { keys: ['user:alice'] }],
    ['subscribeUser', { subscribeUser: 'alice', room: 'r' }, { keys: ['user:alice'] }],
    ['subscribeUser for one session', { subscribeUser: 'alice', room: 'r', tabWindowId: 's1' }, { keys: ['user:alice'], session: 's1' }],
    ['unsubscribeUser', { unsubscribeUser: 'alice', room: 'r' }, { keys: ['user:alice'] }],
    // PROTOCOL 5.1: one tab of a shared session.
    ['a tab of a session', { pushToSession: 's1.tab-1_A', payload }, { keys: [], session: 's1', tab: 'tab-1_A' }],
    ['a tab by tabWindowId, filtering a user', { pushToUser: 'alice', tabWindowId: 's1.t', payload }, { keys: ['user:alice'], session: 's1', tab: 't' }],
    ['subscribeUser for the session of a tab', { subscribeUser: 'alice', room: 'r', tabWindowId: 's1.t' }, { keys: ['user:alice'], session: 's1' }],
    ['a tab id with a character outside [A-Za-z0-9_-]: a session id as given', { pushToSession: 's1.t!', payload }, { keys: [], session: 's1.t!' }],
    ['a tab id over 32 characters: a session id as given', { pushToSession: `s1.${'t'.repeat(33)}`, payload }, { keys: [], session: `s1.${'t'.repeat(33)}` }],
    ['two dots: a session id as given', { pushToSession: 's1.a.b', payload }, { keys: [], session: 's1.a.b' }],
  ])('targets %s', (_name, raw, targets) => {
    expect(pushTargets(parsePushCommand(raw))).toEqual(targets);
  });

  it('keeps the payload as published, whatever JSON value it is', () => {
    for (const p of [payload, 'text', 0, false, null, [1, 2]]) {
      expect(parsePushCommand({ pushToUser: 'alice', payload: p })).toEqual({ kind: 'push', user: 'alice', payload: p });
    }
  });

  it('reads subscription commands', () => {
    expect(parsePushCommand({ subscribeUser: 'alice', room: 'r' })).toEqual({ kind: 'subscribe', user: 'alice', room: 'r' });
    expect(parsePushCommand({ unsubscribeUser: 'alice', room: 'r', pushToSession: 's' })).toEqual({ kind: 'unsubscribe', user: 'alice', room: 'r', session: 's' });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', 'not json', /push command must be an object/],
    ['an array', [], /push command must be an object/],
    ['null', null, /push command must be an object/],
    ['unknown target only', { pushToTeam: 'a', payload }, /needs pushToUser, pushToRoom or pushToSession/],
    ['no target', { payload }, /needs pushToUser, pushToRoom or pushToSession/],
    ['empty user and no other target', { pushToUser: '', payload }, /needs pushToUser/],
    ['payload missing', { pushToUser: 'alice' }, /needs a payload/],
    ['both user and room', { pushToUser: 'alice', pushToRoom: 'r', payload }, /both pushToUser and pushToRoom/],
    ['user not a string', { pushToUser: 7, payload }, /pushToUser must be a string/],
    ['session not a string', { pushToSession: {}, payload }, /pushToSession must be a string/],
    ['different pushToSession and tabWindowId', { pushToSession: 'a', tabWindowId: 'b', payload }, /different pushToSession and tabWindowId/],
    ['room with control characters', { pushToRoom: 'a\u0000', payload }, /pushToRoom: room name has control characters/],
    ['room too long', { pushToRoom: 'r'.repeat(201), payload }, /pushToRoom: room name must be 1 to 200/],
    ['subscribeUser without room', { subscribeUser: 'alice' }, /room is required/],
    ['subscribeUser with a bad room', { subscribeUser: 'alice', room: 5 }, /room must be a string/],
    ['subscribe and unsubscribe', { subscribeUser: 'a', unsubscribeUser: 'a', room: 'r' }, /both subscribeUser and unsubscribeUser/],
    ['subscription mixed with delivery', { subscribeUser: 'a', room: 'r', payload }, /mixes subscribeUser\/unsubscribeUser with delivery fields/],
  ])('rejects %s', (_name, raw, reason) => {
    expect(() => parsePushCommand(raw)).toThrow(SchemaError);
    expect(() => parsePushCommand(raw)).toThrow(reason);
  });
});

describe('pushRoute: the frame a push becomes (PROTOCOL 5.1)', () => {
  const route = (raw: unknown, native = true) => pushRoute(parsePushCommand(raw), native);

  it.each<[string, unknown, boolean, unknown]>([
    ['a user push, as published', { pushToUser: 'alice', payload: { a: 1 } }, true, { a: 1 }],
    ['a room push names its room', { pushToRoom: 'r', payload: { a: 1 } }, true, { a: 1, '@room': 'r' }],
    ['a push to a tab names the tab', { pushToSession: 's1.t1', payload: { a: 1 } }, true, { a: 1, '@tab': 't1' }],
    ['a room push filtered to a tab names both', { pushToRoom: 'r', tabWindowId: 's1.t1', payload: { a: 1 } }, true, { a: 1, '@room': 'r', '@tab': 't1' }],
    ["a publisher's own @room and @tab are dropped", { pushToUser: 'alice', payload: { a: 1, '@room': 'x', '@tab': 'y' } }, true, { a: 1 }],
    ['a room push of a non-object, as published', { pushToRoom: 'r', payload: [1, 2] }, true, [1, 2]],
    ['BackgroundPush: a room push byte for byte', { pushToRoom: 'r', payload: { a: 1, '@tab': 'y' } }, false, { a: 1, '@tab': 'y' }],
    ['BackgroundPush: a push to a tab names the tab', { pushToSession: 's1.t1', payload: { a: 1 } }, false, { a: 1, '@tab': 't1' }],
  ])('%s', (_name, raw, native, frame) => {
    const routed = route(raw, native);
    expect('drop' in routed ? routed : JSON.stringify((routed as { frame: unknown }).frame)).toEqual(JSON.stringify(frame));
  });

  it('sends a push to a tab to its session, and drops one whose payload cannot carry "@tab"', () => {
    expect(route({ pushToSession: 's1.t1', payload: { a: 1 } })).toMatchObject({ keys: [], session: 's1' });
    for (const payload of ['text', 3, null, [1]]) expect(route({ pushToSession: 's1.t1', payload })).toEqual({ drop: 'tab_payload_not_object' });
  });
});
