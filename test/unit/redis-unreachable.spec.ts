/**
 * Which Redis failures a chat frame answers `unavailable` (send it again) rather than
 * `internal` (a bug): the errors ioredis gives while Redis cannot be reached or cannot serve.
 */
import { describe, expect, it } from '@jest/globals';
import { MaxRetriesPerRequestError, ReplyError } from 'ioredis';
import { reconnectDelay, redisUnreachable } from '../../src/redis/redis-connections.js';

const errno = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
const named = (name: string, message: string) => Object.assign(new Error(message), { name });

describe('redisUnreachable', () => {
  it.each<[string, unknown, boolean]>([
    ['retries per request exhausted (a reconnecting connection)', new MaxRetriesPerRequestError(2), true],
    ['a closed connection', new Error('Connection is closed.'), true],
    ['a command timeout', new Error('Command timed out'), true],
    ['no offline queue while disconnected', new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
    ['a cluster with no node answering', named('ClusterAllFailedError', 'Failed to refresh slots cache.'), true],
    ['a replica not yet promoted', new ReplyError("READONLY You can't write against a read only replica."), true],
    ['a server loading its data', new ReplyError('LOADING Redis is loading the dataset in memory'), true],
    ['a cluster slot without master', new ReplyError('CLUSTERDOWN The cluster is down'), true],
    ['refused', errno('ECONNREFUSED'), true],
    ['reset', errno('ECONNRESET'), true],
    ['a script error (a bug)', new ReplyError('ERR Error running script (call to f_abc): attempt to compare nil with number'), false],
    ['a wrong type (a bug)', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'), false],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'Uuid')"), false],
    ['a thrown string', 'Connection is closed.', false],
    ['nothing', undefined, false],
  ])('%s: %s', (_case, err, expected) => {
    expect(redisUnreachable(err)).toBe(expected);
  });
});

describe('reconnectDelay', () => {
  it.each([1, 2, 5, 10, 100])('after %i failed attempts: at most 0.6 s, never ioredis\' 5 s', (times) => {
    for (let i = 0; i < 20; i++) {
      const d = reconnectDelay(times);
      expect(d).toBeGreaterThanOrEqual(Math.min(50 * 2 ** (times - 1), 500));
      expect(d).toBeLessThan(600);
    }
  });
});
