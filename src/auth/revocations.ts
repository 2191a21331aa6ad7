import { Inject, Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common';
import { TtlCache } from '../common/ttl-cache.js';
import { CONFIG, type Config } from '../config/config.js';
import { RedisConnections, type RedisClient } from '../redis/redis-connections.js';
import type { Identity } from './identity.js';

/** Local entries kept at most (embedded mode, and the fast path in Redis mode). */
const MAX_LOCAL = 100_000;
/** Keys per batched MGET at most (2 per subscribe): a fuller batch is sent and a new one starts. */
const MAX_BATCH_KEYS = 512;
/** The marker key holding when the current set of markers began (ms); see `Revocations`. */
const SINCE = '~since';
/** How often an instance that knows of deletions looks at SINCE (a GET: 4 a second, from those instances only). */
export const AUDIT_MS = 250;
/**
 * How long after SINCE changed the markers may be incomplete: every instance audited, with a
 * margin. Short, because a subscribe waits for it (and SUBSCRIBE_TIMEOUT_MS runs meanwhile).
 */
export const SETTLE_MS = 2 * AUDIT_MS + 250;
/** Markers written per pipeline while rebuilding. */
const REBUILD_CHUNK = 1000;

/** KEYS: marker. ARGV: deletion time ms, ttl ms. Never lowers a marker: the latest deletion counts. */
const RAISE = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS: SINCE. ARGV: now ms, settle ms. A new SINCE unless one was set within the settle time; answers SINCE. */
const RENEW_SINCE = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) - tonumber(ARGV[2]) then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

type Scripted = RedisClient & {
  raise(key: string, at: number, ttlMs: number): Promise<number>;
  renewSince(key: string, now: number, settleMs: number): Promise<string>;
};

/** Redis keys asked for in this turn of the event loop, and their values once the MGET answers. */
interface Batch {
  keys: string[];
  values: Promise<(string | null)[]>;
}

/**
 * How logins compare. Cells compares them exactly, unless its user service runs with
 * `loginCI` (services/pydio.grpc.user/loginCI: SQL `LOWER(name) = LOWER(?)` and Go's
 * `strings.EqualFold`, in idm/user/dao/sql). Folded here one code point at a time, as
 * EqualFold does (simple case folding, no expansion: "ß" stays "ß", "ſ" and "K" (Kelvin) fold
 * to "s" and "k").
 */
export function foldLogin(login: string): string {
  let folded = '';
  for (const c of login) {
    const upper = c.toUpperCase();
    const single = [...upper].length === 1 ? upper : c;
    const lower = single.toLowerCase();
    folded += [...lower].length === 1 ? lower : c;
  }
  return folded;
}

/**
 * Users deleted through IDM (PROTOCOL 2, Revocation): their tokens issued before the
 * deletion are refused on every instance, for as long as such a token can live. Shared
 * through Redis (one marker key per user, with that TTL) so that an instance that restarts,
 * or starts later, knows too; kept in a bounded map as well (the only store in embedded mode).
 *
 * Markers lost by Redis (FLUSHALL, a restart without persistence, a failover that lost the
 * last writes) are written again from what the instances saw on the bus. Loss is detected
 * by the key SINCE, read in the same MGET as every check (same slot in a cluster): when it
 * is missing the markers are gone with it; an instance whose connection came back (a
 * failover, a Redis restart) renews it as well, since the new server may lack the last
 * writes. A changed SINCE makes each instance that knows of deletions write its markers
 * again (it looks every AUDIT_MS, and at once when a check saw the change); a check that
 * reads a SINCE younger than SETTLE_MS waits until then and reads again. So after a loss
 * subscribes wait up to SETTLE_MS (0.75 s), once; so does the very first subscribe of a new
 * deployment, which cannot tell an empty Redis from a lost one.
 */
@Injectable()
export class Revocations implements OnModuleDestroy {
  private readonly log = new Logger(Revocations.name);
  /** `user:<login>` / `subject:<uuid>` -> deletion time (ms). */
  private readonly local: TtlCache<string, number>;
  private readonly redis?: Scripted;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly caseInsensitive: boolean;
  private redisFailing = false;
  /** The batch still taking keys, if any. */
  private batch?: Batch;
  /** The SINCE this instance last wrote its markers for. */
  private rebuiltFor?: string;
  /** Checks answered from Redis before this time (ms) wait for it and read again. */
  private settleUntil = 0;
  private auditing?: Promise<void>;
  private readonly timer?: NodeJS.Timeout;

  constructor(@Inject(CONFIG) config: Config, @Optional() connections?: RedisConnections) {
    this.ttlMs = (config.jwt.maxLifetimeSeconds + config.jwt.expiryGraceSeconds) * 1000;
    this.caseInsensitive = config.jwt.loginCaseInsensitive;
    this.local = new TtlCache(this.ttlMs, MAX_LOCAL);
    // In a cluster every marker and SINCE share one slot: one MGET per batch, and a loss of that shard is seen.
    this.prefix = `${connections?.enabled ? connections.hashTag(config.jwt.revocationsKey) : config.jwt.revocationsKey}:`;
    if (connections?.enabled) {
      const redis = connections.commands({ name: 'revocations', maxRetriesPerRequest: 1, commandTimeout: 1000 }) as Scripted;
      redis.defineCommand('raise', { numberOfKeys: 1, lua: RAISE });
      redis.defineCommand('renewSince', { numberOfKeys: 1, lua: RENEW_SINCE });
      redis.on('error', (err: Error) => this.failing(`revocations Redis: ${err.message}`));
      // A connection that comes back may be to a server that lacks the last writes; in a
      // cluster, a node dropped once connected (a dead master; ioredis drops the replicas it
      // does not use while connecting, before its first 'ready').
      let readyBefore = false;
      redis.on('ready', () => (readyBefore ? this.suspectLoss() : (readyBefore = true)));
      redis.on('-node', () => readyBefore && this.suspectLoss());
      this.redis = redis;
      this.timer = setInterval(() => void this.audit(), AUDIT_MS).unref();
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /**
   * The user was deleted now: tokens issued before now are refused from here on. Refused here
   * at once; the promise settles once Redis has it too (or failed to, which is logged): a
   * caller that answers someone after a revocation waits for it. Never rejects.
   */
  revoke(user: { login?: string; subject?: string }, at = Date.now()): Promise<void> {
    const shared: Promise<unknown>[] = [];
    for (const key of this.keysOf(user.login, user.subject)) {
      this.local.set(key, at, at);
      if (!this.redis) continue;
      shared.push(
        this.redis.raise(this.prefix + key, at, this.ttlMs).then(
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
    const keys = this.keysOf(identity.user, identity.subject);
    let revokedAt = 0;
    if (this.redis) {
      try {
        let values = await this.read(keys);
        const wait = this.settleUntil - Date.now();
        if (wait > 0) {
          // The markers may be being written again: read them once they are.
          await new Promise((resolve) => setTimeout(resolve, wait).unref());
          values = await this.read(keys);
        }
        for (const v of values) if (v !== null && Number(v) > revokedAt) revokedAt = Number(v);
        this.redisFailing = false;
      } catch (err) {
        this.failing(`revocations not readable, using this instance's: ${(err as Error).message}`);
      }
    }
    // Read after the await: a deletion seen on the bus meanwhile counts too.
    return issuedBefore(identity, Math.max(revokedAt, this.localRevokedAt(keys)));
  }

  /** The same check against what this instance saw on the bus only: synchronous. */
  revokedLocally(identity: Identity): boolean {
    return issuedBefore(identity, this.localRevokedAt(this.keysOf(identity.user, identity.subject)));
  }

  /**
   * The Redis values of `keys`. The checks of every subscribe that arrives in the same turn of
   * the event loop go out as one MGET (at the end of the turn, `setImmediate`), SINCE first:
   * one write and one answer instead of one per subscribe, which a connect storm pays for in
   * syscalls. A failed MGET fails every check of its batch.
   */
  private read(keys: string[]): Promise<(string | null)[]> {
    let batch = this.batch;
    if (!batch || batch.keys.length + keys.length > MAX_BATCH_KEYS) {
      const redis = this.redis!;
      const next: Batch = {
        keys: [this.prefix + SINCE],
        values: new Promise<(string | null)[]>((resolve) =>
          setImmediate(() => {
            // Sent: the next check starts a new batch.
            if (this.batch === next) this.batch = undefined;
            resolve(redis.mget(next.keys));
          }),
        ).then((values) => {
          this.observe(values[0]);
          return values;
        }),
      };
      batch = this.batch = next;
    }
    const from = batch.keys.length;
    for (const key of keys) batch.keys.push(this.prefix + key);
    return batch.values.then((values) => values.slice(from, from + keys.length));
  }

  /** SINCE as a check read it: a missing or new one starts a settle time, and an audit. */
  private observe(since: string | null): void {
    const settle = since === null ? Date.now() + SETTLE_MS : Number(since) + SETTLE_MS;
    if (settle > this.settleUntil) this.settleUntil = settle;
    if (since === null || since !== this.rebuiltFor) void this.audit(since === null);
  }

  /** The connection came back: the server may have lost the last writes. */
  private suspectLoss(): void {
    this.settleUntil = Math.max(this.settleUntil, Date.now() + SETTLE_MS);
    void this.audit(true);
  }

  /**
   * Looks at SINCE (renews it when missing, or when `renew` says a loss is suspected) and,
   * when it changed since this instance's last rebuild, writes this instance's markers again.
   * Instances that know of no deletion have nothing to write and only renew when asked.
   */
  private audit(renew = false): Promise<void> {
    if (this.auditing) return this.auditing;
    if (!renew && this.local.size === 0) return Promise.resolve();
    const redis = this.redis!;
    const key = this.prefix + SINCE;
    this.auditing = (async () => {
      try {
        let since = renew ? null : await redis.get(key);
        if (since === null) since = String(await redis.renewSince(key, Date.now(), SETTLE_MS));
        const settle = Number(since) + SETTLE_MS;
        if (settle > this.settleUntil) this.settleUntil = settle;
        if (since !== this.rebuiltFor) {
          await this.rebuild();
          this.rebuiltFor = since;
        }
      } catch (err) {
        this.failing(`revocation markers not checked: ${(err as Error).message}`);
      } finally {
        this.auditing = undefined;
      }
    })();
    return this.auditing;
  }

  /** Every deletion this instance knows of, written again with what is left of its TTL. */
  private async rebuild(): Promise<void> {
    const now = Date.now();
    const entries = [...this.local.entries()].filter(([, , expiresAt]) => expiresAt > now);
    for (let i = 0; i < entries.length; i += REBUILD_CHUNK) {
      const pipeline = this.redis!.pipeline() as unknown as { raise(key: string, at: number, ttl: number): void; exec(): Promise<unknown> };
      for (const [key, at, expiresAt] of entries.slice(i, i + REBUILD_CHUNK)) pipeline.raise(this.prefix + key, at, expiresAt - now);
      await pipeline.exec();
    }
    if (entries.length) this.log.log(`revocation markers written again: ${entries.length}`);
  }

  private localRevokedAt(keys: string[]): number {
    return Math.max(0, ...keys.map((key) => this.local.get(key) ?? 0));
  }

  private keysOf(login: string | undefined, subject: string | undefined): string[] {
    const user = login && (this.caseInsensitive ? foldLogin(login) : login);
    return [user && `user:${user}`, subject && `subject:${subject}`].filter((k): k is string => Boolean(k));
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
