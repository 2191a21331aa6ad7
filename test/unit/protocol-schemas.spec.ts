/**
 * Where the src/protocol schemas could drift from what the hand-written parsers did: null vs
 * absent, numbers where strings are expected, unknown keys, the object returned, and the
 * depth bound that stays in front of every schema.
 */
import { describe, expect, it } from '@jest/globals';
import { parseChatEvent } from '../../src/chat/chat-event.js';
import { parseHistoryRequest, parseRoomType } from '../../src/chat/chat-types.js';
import { payloadProblem } from '../../src/common/json-bounds.js';
import { SchemaError, parseWith } from '../../src/common/schema.js';
import { ERROR_CODES, RoomRef, errorFrame, type ErrorCode } from '../../src/protocol/frames.js';
import { parsePushCommand } from '../../src/push/push-rules.js';
import { parseActivityEvent } from '../../src/topics/activity.topic.js';
import { parseIdmEvent } from '../../src/topics/idm.topic.js';
import { parseNodeEvent } from '../../src/topics/node-event.js';
import { parseTaskEvent } from '../../src/topics/task.topic.js';

type Parse = (raw: unknown) => unknown;
const parsers: Record<string, Parse> = {
  node: parseNodeEvent,
  task: parseTaskEvent,
  idm: parseIdmEvent,
  activity: parseActivityEvent,
  push: parsePushCommand,
  chat: parseChatEvent,
  roomRef: (raw: unknown) => parseWith(RoomRef, raw, 'Room'),
  roomType: parseRoomType,
  history: (raw) => parseHistoryRequest(JSON.stringify(raw)),
};

describe('null is the same as absent', () => {
  it.each<[string, string, unknown, unknown]>([
    ['node', 'Type', { Type: null, Target: { Uuid: 'u' } }, { Target: { Uuid: 'u' } }],
    ['node', 'Source', { Source: null, Target: { Uuid: 'u' } }, { Target: { Uuid: 'u' } }],
    ['node', 'a node field', { Target: { Uuid: 'u', Etag: null, MetaStore: null } }, { Target: { Uuid: 'u' } }],
    ['node', 'Silent', { Target: { Uuid: 'u' }, Silent: null }, { Target: { Uuid: 'u' } }],
    ['push', 'tabWindowId', { pushToUser: 'a', tabWindowId: null, payload: 1 }, { pushToUser: 'a', payload: 1 }],
    ['push', "'' as a target", { pushToUser: 'a', pushToSession: '', payload: 1 }, { pushToUser: 'a', payload: 1 }],
    ['chat', 'Details', { Room: { Uuid: 'r' }, Details: null }, { Room: { Uuid: 'r' } }],
    ['chat', 'Room.Type (GLOBAL)', { Room: { Uuid: 'r', Type: null } }, { Room: { Uuid: 'r' } }],
    ['chat', 'Room.Users', { Room: { Uuid: 'r', Users: null } }, { Room: { Uuid: 'r' } }],
    ['chat', 'Message', { Message: null, Room: { Uuid: 'r' } }, { Room: { Uuid: 'r' } }],
    ['roomRef', 'RoomLabel', { Type: 'GLOBAL', RoomLabel: null }, { Type: 'GLOBAL' }],
    ['history', 'Offset', { Offset: null, Limit: 5 }, { Limit: 5 }],
  ])('%s: %s', (name, _field, withNull, absent) => {
    expect(parsers[name](withNull)).toEqual(parsers[name](absent));
  });

  it.each<[string, unknown, RegExp]>([
    ['task', { TaskUpdated: null }, /event.TaskUpdated must be an object/],
    ['activity', { Activity: null }, /event.Activity must be an object/],
    ['chat', { Message: { Uuid: null, RoomUuid: 'r' } }, /Message.Uuid is required/],
    ['chat', { Room: { Uuid: '' } }, /Room.Uuid is required/],
    ['roomRef', { Type: null }, /Room.Type must be a string/],
    ['roomRef', null, /Room must be an object/],
    ['push', { subscribeUser: 'a', room: null }, /room is required/],
    ['push', { subscribeUser: 'a', room: 'r', payload: null }, /mixes subscribeUser/],
  ])('%s: a required field null is refused as missing (%j)', (name, raw, reason) => {
    expect(() => parsers[name](raw)).toThrow(SchemaError);
    expect(() => parsers[name](raw)).toThrow(reason);
  });

  it.each<[string, unknown]>([
    ['task', { TaskUpdated: { TriggerOwner: null }, Job: null }],
    ['idm', { Type: null, User: null, Acl: { RoleID: null, Action: null } }],
    ['activity', { OwnerId: null, Activity: { actor: null, object: { name: null } } }],
  ])('%s: nulls are accepted and delivered as published', (name, raw) => {
    expect(parsers[name](raw)).toBe(raw);
  });
});

describe('numbers where strings are expected', () => {
  it.each<[string, unknown, unknown]>([
    ['node', { Target: { Uuid: 5, Size: 12, MTime: 1700000000, Path: 7 } }, { Type: 'CREATE', Target: { Uuid: '5', Size: '12', MTime: '1700000000', Path: '7' } }],
    ['node', { Target: { MetaStore: { n: 1, b: true, o: { a: 1 } } } }, { Type: 'CREATE', Target: { MetaStore: { n: '1', b: 'true', o: '{"a":1}' } } }],
    ['chat', { Message: { Uuid: 5, RoomUuid: 6, Timestamp: 1700000000 } }, { Message: { Uuid: '5', RoomUuid: '6', Message: '', Author: '', Timestamp: '1700000000' } }],
    ['chat', { Room: { Uuid: 'r', Type: 3, LastUpdated: 17 } }, { Room: { Uuid: 'r', Type: 'NODE', RoomTypeObject: '', Users: [], LastUpdated: '17' } }],
    ['roomRef', { Type: 1, RoomTypeObject: 42 }, { Type: 'WORKSPACE', RoomTypeObject: '42' }],
    ['roomType', 4, 'ANY'],
    ['history', { Offset: '20', Limit: ' 5 ' }, { Offset: 20, Limit: 5 }],
  ])('%s: accepted and turned into strings where the wire allows it (%j)', (name, raw, expected) => {
    expect(parsers[name](raw)).toEqual(expected);
  });

  it.each<[string, unknown, RegExp]>([
    ['node', { Type: 1, Target: {} }, /event.Type must be a string/],
    ['task', { TaskUpdated: { TriggerOwner: 7 } }, /event.TaskUpdated.TriggerOwner must be a string/],
    ['idm', { User: { Login: 1 } }, /event.User.Login must be a string/],
    ['activity', { OwnerId: 1, Activity: {} }, /event.OwnerId must be a string/],
    ['push', { pushToUser: 7, payload: 1 }, /push command.pushToUser must be a string/],
    ['chat', { Room: { Uuid: 'r', Users: [1] } }, /Room.Users must be an array of strings/],
    ['roomType', '3', /Room.Type must be one of/],
    ['roomType', 5, /Room.Type must be a string/],
    ['history', { Limit: 1.5 }, /HISTORY Limit must be an integer/],
    ['history', { Offset: true }, /HISTORY Offset must be an integer/],
  ])('%s: refused where the parser never took a number (%j)', (name, raw, reason) => {
    expect(() => parsers[name](raw)).toThrow(SchemaError);
    expect(() => parsers[name](raw)).toThrow(reason);
  });
});

describe('unknown keys', () => {
  it.each<[string, unknown]>([
    ['task', { TaskUpdated: { ID: 't', Extra: { deep: [1] } }, Job: { ID: 'j' }, Extra: 1 }],
    ['idm', { Type: 'UPDATE', User: { Login: 'a', Password: 'x', Attributes: {} }, Extra: [null] }],
    ['activity', { Activity: { type: 'Update', actor: { id: 'a', extra: 1 }, extra: 2 }, Extra: 3 }],
  ])('%s: the very object published is returned, unknown keys and all', (name, raw) => {
    const copy = structuredClone(raw);
    expect(parsers[name](raw)).toBe(raw);
    expect(raw).toEqual(copy);
  });

  it('node: kept in nodes (null included), dropped at the top level; the input is not modified', () => {
    const raw = { Target: { Uuid: 'u', Extra: null, Mode: 511 }, Metadata: { secret: 1 } };
    const copy = structuredClone(raw);
    expect(parseNodeEvent(raw)).toStrictEqual({ Type: 'CREATE', Target: { Uuid: 'u', Extra: null, Mode: 511 } });
    expect(raw).toEqual(copy);
  });

  it('push: the payload is the published value itself', () => {
    const payload = { any: ['thing'] };
    expect(parsePushCommand({ pushToRoom: 'r', payload, Extra: 1 })).toStrictEqual({ kind: 'push', room: 'r', user: undefined, session: undefined, payload });
    expect((parsePushCommand({ pushToRoom: 'r', payload }) as { payload: unknown }).payload).toBe(payload);
  });

  it.each<[string, unknown, unknown]>([
    ['chat', { Message: { Uuid: 'm', RoomUuid: 'r', Html: '<b>' }, Extra: 1 }, { Message: { Uuid: 'm', RoomUuid: 'r', Message: '', Author: '', Timestamp: '0' } }],
    ['roomRef', { Type: 'USER', RoomTypeObject: 'a,b', Uuid: 'x', Users: ['x'] }, { Type: 'USER', RoomTypeObject: 'a,b' }],
    ['history', { Offset: 1, Limit: 2, Extra: 3 }, { Offset: 1, Limit: 2 }],
  ])('%s: dropped where the parser built its own object', (name, raw, expected) => {
    expect(parsers[name](raw)).toStrictEqual(expected);
  });
});

describe('depth: json-bounds refuses deep payloads before any schema sees them', () => {
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  it.each<[string, string]>([
    ['node', `{"Target":{"Uuid":"u","MetaStore":{"x":${deep(6000)}}}}`],
    ['task', `{"TaskUpdated":{"X":${deep(6000)}}}`],
    ['idm', `{"User":{"Login":"a","Attributes":${deep(6000)}}}`],
    ['push', `{"pushToUser":"a","payload":${deep(6000)}}`],
  ])('%s', (name, text) => {
    expect(payloadProblem(text, { maxBytes: 1 << 20, maxDepth: 32 })).toBe('too_deep');
    // And a payload just within the bound parses (the schemas add no depth limit of their own).
    const within = text.replace(deep(6000), deep(20));
    expect(payloadProblem(within, { maxBytes: 1 << 20, maxDepth: 32 })).toBeUndefined();
    expect(() => parsers[name](JSON.parse(within))).not.toThrow();
  });
});

describe('errorFrame', () => {
  it.each<[ErrorCode, string | undefined, string]>([
    ['token_expired', undefined, 'token expired'],
    ['bad_json', undefined, 'bad JSON'],
    ['internal', undefined, 'internal error'],
    ['too_many_sessions', 'too many sessions for this user (3)', 'too many sessions for this user (3)'],
    ['bad_frame', 'Room.Type must be a string', 'Room.Type must be a string'],
  ])('%s', (code, text, error) => {
    expect(errorFrame(code, text)).toEqual({ '@type': 'error', error, code });
  });

  it('every code stands for at least one text, and no text for two codes', () => {
    const texts = Object.values(ERROR_CODES).flat();
    expect(Object.values(ERROR_CODES).every((t) => t.length > 0)).toBe(true);
    expect(new Set(texts).size).toBe(texts.length);
  });
});
