import { describe, it, expect } from '@jest/globals';
import { EnvelopeDeserializer } from '../../src/bus/envelope.js';
import { redisOptions } from '../../src/redis/redis-connections.js';

const CH = 'topic.pydio.tree.nodes.changes';

describe('EnvelopeDeserializer', () => {
  const d = new EnvelopeDeserializer();
  const event = { Type: 'CREATE', Target: { Uuid: 'u', Path: 'a/b' } };

  it.each<[string, unknown, unknown]>([
    ['envelope for this channel -> its data', { pattern: CH, data: event }, event],
    ['envelope for this channel with null data -> null', { pattern: CH, data: null }, null],
    ['envelope for this channel with a string data -> the string', { pattern: CH, data: 'x' }, 'x'],
    ['envelope for another channel -> the whole object', { pattern: 'other', data: event }, { pattern: 'other', data: event }],
    ['bare object with a top-level data key -> the whole object', { data: { a: 1 }, Type: 'X' }, { data: { a: 1 }, Type: 'X' }],
    ['bare object with only data -> the whole object', { data: event }, { data: event }],
    ['pattern for this channel but no data key -> the whole object', { pattern: CH, Type: 'X' }, { pattern: CH, Type: 'X' }],
    ['non-string pattern -> the whole object', { pattern: { cmd: CH }, data: 1 }, { pattern: { cmd: CH }, data: 1 }],
    ['bare event -> itself', event, event],
    ['string -> string', 'dump', 'dump'],
    ['number -> number', 42, 42],
    ['array -> array', [{ pattern: CH, data: 1 }], [{ pattern: CH, data: 1 }]],
    ['null -> null', null, null],
  ])('%s', (_name, value, data) => {
    expect(d.deserialize(value, { channel: CH })).toEqual({ pattern: CH, data });
  });

  it('returns the envelope data itself, not a copy', () => {
    expect(d.deserialize({ pattern: CH, data: event }, { channel: CH }).data).toBe(event);
  });

  it('never gives an id: the bus never answers', () => {
    expect(d.deserialize({ pattern: CH, data: event, id: 'abc' }, { channel: CH })).toEqual({ pattern: CH, data: event });
    expect('id' in d.deserialize({ id: 'abc' }, { channel: CH })).toBe(false);
  });

  it('without a channel, the pattern is empty and an envelope is not unwrapped', () => {
    expect(d.deserialize({ pattern: CH, data: event })).toEqual({ pattern: '', data: { pattern: CH, data: event } });
  });
});

describe('redisOptions', () => {
  it.each<[string, ReturnType<typeof redisOptions>]>([
    [
      'redis://user:p%40ss@host:6380/2',
      { host: 'host', port: 6380, username: 'user', password: 'p@ss', db: 2, tls: undefined },
    ],
    ['redis://localhost', { host: 'localhost', port: 6379, username: undefined, password: undefined, db: 0, tls: undefined }],
    ['redis://localhost:6379/', { host: 'localhost', port: 6379, username: undefined, password: undefined, db: 0, tls: undefined }],
    ['redis://:s3cret@redis:6379/5', { host: 'redis', port: 6379, username: undefined, password: 's3cret', db: 5, tls: undefined }],
    ['rediss://cache.example.com:6380', { host: 'cache.example.com', port: 6380, username: undefined, password: undefined, db: 0, tls: {} }],
    ['rediss://u:p@h/1', { host: 'h', port: 6379, username: 'u', password: 'p', db: 1, tls: {} }],
    ['redis://[::1]:7000', { host: '::1', port: 7000, username: undefined, password: undefined, db: 0, tls: undefined }],
    ['redis://us%3Aer:a%2Fb%3Ac@h', { host: 'h', port: 6379, username: 'us:er', password: 'a/b:c', db: 0, tls: undefined }],
  ])('%s', (url, expected) => {
    const opts = redisOptions(url);
    expect(opts).toEqual(expected);
    // toEqual ignores undefined properties: check tls explicitly.
    if (expected.tls) expect(opts.tls).toEqual({});
    else expect(opts.tls).toBeUndefined();
  });
});
