import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { TtlCache } from '../common/ttl-cache.js';
import { CONFIG, type Config } from '../config/config.js';
import { RedisConnections } from '../redis/redis-connections.js';
import type { Identity } from './identity.js';

/** Local entries kept at most (embedded mode, and the fast path in Redis mode). */
const MAX_LOCAL = 100_000;
const KEY_PREFIX = 'switchboard:revoked:';
/** Keys per batched MGET at most (2 per subscribe): a fuller batch is sent and a new one starts. */
const MAX_BATCH_KEYS = 512;

/** Redis keys asked for in this turn of the event loop, and their values once the MGET answers. */
interface Batch {
  keys: string[];
  values: Promise<(string | null)[]>;
}

/**
 * Users deleted through IDM (PROTOCOL 2, Revocation): their tokens issued before the
 * deletion are refused on every instance, for as long as such a token can live. Shared
 * through Redis (one key per user, with that TTL) so that an instance that restarts, or
 * starts later, knows too; kept in a bounded map as well (the only store in embedded mode).
 */
@Injectable()
export class Revocations {
  private readonly log = new Logger(Revocations.name);
  /** `user:<login>` / `subject:<uuid>` -> deletion time (ms). */
  private readonly local: TtlCache<string, number>;
  private readonly redis?: Redis;
  private readonly ttlMs: number;
  private redisFailing = false;
  /** The batch still taking keys, if any. */
  private batch?: Batch;

  constructor(@Inject(CONFIG) config: Config, connections?: RedisConnections) {
    this.ttlMs = (config.jwt.maxLifetimeSeconds + config.jwt.expiryGraceSeconds) * 1000;
    this.local = new TtlCache(this.ttlMs, MAX_LOCAL);
    if (connections?.enabled) {
      this.redis = connections.open({ maxRetriesPerRequest: 1, commandTimeout: 1000 });
      this.redis.on('error', (err: Error) => this.failing(`revocations Redis: ${err.message}`));
    }
  }

  /**
   * The user was deleted now: tokens issued before now are refused from here on. Refused here
   * at once; the promise settles once Redis has it too (or failed to, which is logged): a
   * caller that answers someone after a revocation waits for it. Never rejects.
   */
  revoke(user: { login?: string; subject?: string }, at = Date.now()): Promise<void> {
    const shared: Promise<unknown>[] = [];
    for (const key of keysOf(user.login, user.subject)) {
      this.local.set(key, at, at);
      if (!this.redis) continue;
      shared.push(
        this.redis.set(KEY_PREFIX + key, String(at), 'PX', this.ttlMs).then(
          () => (this.redisFailing = false),
          (err: Error) => this.failing(`revocation not shared: ${err.message}`),
        ),
      );
    }
    return Promise.all(shared).then(() => undefined);
  }

  /**
   * Whether this token belongs to a deleted user and was issued before the deletion (`iat`
   * in whole seconds: a token of the deletion's own second is refused; one without `iat`
   * always is). When Redis does not answer, what this instance saw on the bus decides.
   */
  async isRevoked(identity: Identity): Promise<boolean> {
    const keys = keysOf(identity.user, identity.subject);
    let revokedAt = 0;
    if (this.redis) {
      try {
        for (const v of await this.read(keys)) if (v !== null && Number(v) > revokedAt) revokedAt = Number(v);
        this.redisFailing = false;
      } catch (err) {
        this.failing(`revocations not readable, using this instance's: ${(err as Error).message}`);
      }
    }
    // Read after the await: a deletion seen on the bus meanwhile counts too.
    return issuedBefore(identity, Math.max(revokedAt, this.localRevokedAt(keys)));
  }

  /**
   * The Redis values of `keys`. The checks of every subscribe that arrives in the same turn of
   * the event loop go out as one MGET (at the end of the turn, `setImmediate`): one write and
   * one answer instead of one per subscribe, which a connect storm pays for in syscalls. A
   * failed MGET fails every check of its batch.
   */
  private read(keys: string[]): Promise<(string | null)[]> {
    let batch = this.batch;
    if (!batch || batch.keys.length + keys.length > MAX_BATCH_KEYS) {
      const redis = this.redis!;
      const next: Batch = {
        keys: [],
        values: new Promise((resolve) =>
          setImmediate(() => {
            if (this.batch === next) this.batch = undefined;
            resolve(redis.mget(next.keys));
          }),
        ),
      };
      batch = this.batch = next;
    }
    const from = batch.keys.length;
    for (const key of keys) batch.keys.push(KEY_PREFIX + key);
    return batch.values.then((values) => values.slice(from, from + keys.length));
  }

  /** The same check against what this instance saw on the bus only: synchronous. */
  revokedLocally(identity: Identity): boolean {
    return issuedBefore(identity, this.localRevokedAt(keysOf(identity.user, identity.subject)));
  }

  private localRevokedAt(keys: string[]): number {
    return Math.max(0, ...keys.map((key) => this.local.get(key) ?? 0));
  }

  /** Logged once per outage, not per subscribe. */
  private failing(message: string): void {
    if (this.redisFailing) return;
    this.redisFailing = true;
    this.log.warn(message);
  }
}

/** Whether the token may have been issued before `revokedAt` (ms; 0: never revoked). */
function issuedBefore(identity: Identity, revokedAt: number): boolean {
  if (revokedAt === 0) return false;
  const { iat } = identity;
  return iat === undefined || iat * 1000 < revokedAt;
}

function keysOf(login: string | undefined, subject: string | undefined): string[] {
  return [login && `user:${login}`, subject && `subject:${subject}`].filter((k): k is string => Boolean(k));
}
