export interface BackoffOptions {
  /** First ceiling (ms). Default 500. */
  initialMs?: number;
  /** Cap (ms). Default 30 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry): "full jitter", a uniform draw
 * in [0, ceiling) where the ceiling grows exponentially up to the cap, so that clients dropped
 * together spread over the whole window instead of bunching at its upper half. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, random: () => number, options: BackoffOptions = {}): number {
  const { initialMs = 500, maxMs = 30_000, factor = 2 } = options;
  const ceiling = Math.min(maxMs, initialMs * factor ** Math.min(attempt, 64));
  return Math.round(ceiling * random());
}

/**
 * The server's retry hint of a close reason (`server shutting down; retry in 4200 ms`, PROTOCOL 7),
 * in ms; undefined when there is none.
 */
export function retryHint(reason: string): number | undefined {
  const m = /retry in (\d{1,7}) ms/.exec(reason);
  return m ? Number(m[1]) : undefined;
}
