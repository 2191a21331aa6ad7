/**
 * Fixed-window counters keyed by name (e.g. `post:alice`): at most `limit` hits per window.
 * In Redis the count is shared by every instance, so a limit per user holds however many
 * sessions and instances the user spreads over; in memory it holds for one process.
 */
import type { RedisClient } from '../redis/redis-connections.js';

/** An abstract class rather than an interface: it is also an injection token. */
export abstract class WindowLimiter {
  /** Counts one hit; false when the key already had `limit` hits in its current window. */
  abstract take(key: string, limit: number, windowMs: number): Promise<boolean>;
}

/** Keys live one window; a window starts at a key's first hit. */
export class MemoryWindowLimiter implements WindowLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async take(key: string, limit: number, windowMs: number): Promise<boolean> {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (w) this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.purge(now);
      // Still full of live windows: refuse rather than grow (hostile key churn).
      if (this.windows.size >= this.maxKeys) return false;
      this.windows.set(key, (w = { count: 0, resetAt: now + windowMs }));
    }
    return ++w.count <= limit;
  }

  get size(): number {
    return this.windows.size;
  }

  private purge(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
  }
}

/** KEYS: counter. ARGV: window ms. The count after this hit; the key expires with its window. */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export class RedisWindowLimiter implements WindowLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'switchboard:limit:',
  ) {}

  async take(key: string, limit: number, windowMs: number): Promise<boolean> {
    const count = Number(await this.redis.eval(HIT, 1, this.prefix + key, windowMs));
    return count <= limit;
  }
}
