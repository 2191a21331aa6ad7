import { describe, it, expect } from '@jest/globals';
import { SchemaError, parseWith } from '../../src/common/schema.js';
import { RoomRef } from '../../src/protocol/frames.js';
import { parseHistoryRequest } from '../../src/chat/chat-types.js';

/** The `Room` of a JOIN, LEAVE or HISTORY frame, named as the chat gateway names it. Type is case-insensitive; protobuf enum numbers (0 = GLOBAL ... 4 = ANY) are accepted. */
const parseRoomRef = (raw: unknown) => parseWith(RoomRef, raw, 'Room');

describe('parseRoomRef', () => {
  it.each([
    [{ Type: 'NODE', RoomTypeObject: 'n1' }, { Type: 'NODE', RoomTypeObject: 'n1' }],
    [{ Type: 'node', RoomTypeObject: 'n1' }, { Type: 'NODE', RoomTypeObject: 'n1' }],
    [{ Type: 'Workspace', RoomTypeObject: 'w1', RoomLabel: 'Projects' }, { Type: 'WORKSPACE', RoomTypeObject: 'w1', RoomLabel: 'Projects' }],
    [{ Type: 'GLOBAL' }, { Type: 'GLOBAL', RoomTypeObject: '' }],
    [{ Type: 'GLOBAL', RoomLabel: 'x'.repeat(256) }, { Type: 'GLOBAL', RoomTypeObject: '', RoomLabel: 'x'.repeat(256) }],
    [{ Type: 'GLOBAL', RoomTypeObject: '' }, { Type: 'GLOBAL', RoomTypeObject: '' }],
    [{ Type: 'ANY', RoomTypeObject: 'x' }, { Type: 'ANY', RoomTypeObject: 'x' }],
    [{ Type: 3, RoomTypeObject: 'n1' }, { Type: 'NODE', RoomTypeObject: 'n1' }],
    [{ Type: 'USER', RoomTypeObject: 'alice,bob', Uuid: 'ignored', Users: ['x'] }, { Type: 'USER', RoomTypeObject: 'alice,bob' }],
  ])('%j -> %j', (raw, expected) => {
    expect(parseRoomRef(raw)).toEqual(expected);
  });

  it.each([
    ['not an object', 'NODE', /Room must be an object/],
    ['null', null, /Room must be an object/],
    ['missing Type', { RoomTypeObject: 'n1' }, /Room.Type must be a string/],
    ['unknown Type', { Type: 'CHANNEL', RoomTypeObject: 'n1' }, /Room.Type must be one of/],
    ['enum number out of range', { Type: 7, RoomTypeObject: 'n1' }, /Room.Type must be a string/],
    ['empty object for NODE', { Type: 'NODE', RoomTypeObject: '' }, /required for a NODE room/],
    ['missing object for USER', { Type: 'USER' }, /required for a USER room/],
    ['missing object for WORKSPACE', { Type: 'WORKSPACE' }, /required for a WORKSPACE room/],
    ['object not a string', { Type: 'NODE', RoomTypeObject: { a: 1 } }, /RoomTypeObject must be a string/],
    ['object too long', { Type: 'NODE', RoomTypeObject: 'x'.repeat(1025) }, /longer than 1024/],
    ['label too long (60 KB)', { Type: 'GLOBAL', RoomLabel: 'x'.repeat(60_000) }, /RoomLabel is longer than 256/],
    ['label one past the bound', { Type: 'GLOBAL', RoomLabel: 'x'.repeat(257) }, /RoomLabel is longer than 256/],
  ])('refuses %s', (_name, raw, reason) => {
    expect(() => parseRoomRef(raw)).toThrow(SchemaError);
    expect(() => parseRoomRef(raw)).toThrow(reason);
  });
});

describe('parseHistoryRequest', () => {
  it.each([
    ['{"Offset":0,"Limit":40}', { Offset: 0, Limit: 40 }],
    ['{"Offset":80,"Limit":10}', { Offset: 80, Limit: 10 }],
    ['{"Offset":"20","Limit":"5"}', { Offset: 20, Limit: 5 }],
    ['{}', { Offset: 0, Limit: 40 }],
    ['{"Offset":3}', { Offset: 3, Limit: 40 }],
    ['{"Limit":0}', { Offset: 0, Limit: 0 }],
    ['{"Limit":5000}', { Offset: 0, Limit: 200 }],
    ['', { Offset: 0, Limit: 40 }],
  ])('%s -> %j', (text, expected) => {
    expect(parseHistoryRequest(text)).toEqual(expected);
  });

  it.each([
    ['not JSON', 'Offset=0', /must be a JSON object/],
    ['JSON array', '[0,40]', /must be a JSON object/],
    ['negative Offset', '{"Offset":-1}', /Offset must not be negative/],
    ['negative Limit', '{"Limit":-5}', /Limit must not be negative/],
    ['fractional Limit', '{"Limit":1.5}', /Limit must be an integer/],
    ['text Offset', '{"Offset":"ten"}', /Offset must be an integer/],
  ])('refuses %s', (_name, text, reason) => {
    expect(() => parseHistoryRequest(text)).toThrow(SchemaError);
    expect(() => parseHistoryRequest(text)).toThrow(reason);
  });
});
