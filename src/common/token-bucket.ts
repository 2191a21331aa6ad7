/**
 * A token bucket: `rate` tokens per second, at most `burst` stored.
 * The clock is injected so that tests can drive it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token is available (0 when one is). */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }
}

/**
 * The TokenBucket's limit kept in one number, for the many buckets that sit idle (one per
 * session): `full` is the time (ms) at which the bucket is full again; 0 or any time past
 * means full now. Takes one token at `now`: returns the new `full`, or undefined when no
 * token is left. Pure (this is GCRA, the bucket's equivalent "virtual scheduling" form).
 */
export function takeToken(full: number, now: number, rate: number, burst: number): number | undefined {
  const interval = 1000 / rate;
  const from = Math.max(full, now);
  // Tokens missing at `now`: (from - now) / interval; one more must fit below the burst.
  if (from - now > (burst - 1) * interval) return undefined;
  return from + interval;
}
