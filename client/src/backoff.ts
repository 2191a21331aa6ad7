export interface BackoffOptions {
  /** First delay (ms). Default 500. */
  initialMs?: number;
  /** Cap (ms). Default 30 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry): capped exponential growth with
 * "equal jitter" (half fixed, half random), so that a restarted server is not hit by every client
 * at once and no client waits much less than the curve says. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, random: () => number, options: BackoffOptions = {}): number {
  const { initialMs = 500, maxMs = 30_000, factor = 2 } = options;
  const ceiling = Math.min(maxMs, initialMs * factor ** Math.min(attempt, 64));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
