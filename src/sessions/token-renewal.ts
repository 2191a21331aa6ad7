/**
 * What a session is told before its token expires (PROTOCOL 2, Renewal), and when. Pure.
 *
 * - `expiring`: the `{"@type":"expiring","expiresAt"}` frame, for clients that know it.
 * - `prompt`: an `idm` frame about the session's own user. The Cells web client never
 *   renews by itself, but on any `idm` frame it reloads its workspaces and then subscribes
 *   again with `getOrUpdateJwt()`, which fetches a fresh token once the current one is
 *   within 5 s of its expiry (by the client's clock). So the first prompt goes 3 s before
 *   `exp`, and a second one halfway through the grace, for a client whose clock is behind.
 *   A client more than that behind re-sends its expired token, which is refused (4401), as
 *   it would have been closed at the end of the grace anyway.
 * - `expired`: the end of the grace: error frame and close 4401.
 */
export type RenewalKind = 'expiring' | 'prompt' | 'expired';

export interface RenewalStep {
  /** Unix milliseconds. */
  at: number;
  kind: RenewalKind;
}

export interface RenewalOptions {
  graceSeconds: number;
  /** 0: no `expiring` frame. Capped at half the token's lifetime. */
  renewBeforeSeconds: number;
  /** Whether to send the `idm` prompts (the events endpoint: the Cells client listens there). */
  prompt: boolean;
}

/** The Cells client refreshes a token that expires within 5 s; prompting 3 s before leaves room for clock drift. */
export const PROMPT_BEFORE_SECONDS = 3;

/** The steps for a token expiring at `exp` and issued at `iat` (unix seconds), in time order. */
export function renewalPlan(exp: number, iat: number, opts: RenewalOptions): RenewalStep[] {
  const steps: RenewalStep[] = [];
  const renewBefore = Math.min(opts.renewBeforeSeconds, Math.max(0, exp - iat) / 2);
  if (renewBefore > 0) steps.push({ at: (exp - renewBefore) * 1000, kind: 'expiring' });
  if (opts.prompt) {
    steps.push({ at: (exp - PROMPT_BEFORE_SECONDS) * 1000, kind: 'prompt' });
    if (opts.graceSeconds >= 2) steps.push({ at: (exp + opts.graceSeconds / 2) * 1000, kind: 'prompt' });
  }
  steps.push({ at: (exp + opts.graceSeconds) * 1000, kind: 'expired' });
  return steps.sort((a, b) => a.at - b.at);
}

/**
 * The index of the first step still to come at `now`: those to come are the plan from there,
 * as it is in time order and ends with `expired`, which always stays (at once if it is past).
 */
export function firstPendingStep(steps: RenewalStep[], now: number): number {
  const i = steps.findIndex((s) => s.kind === 'expired' || s.at > now);
  return i === -1 ? steps.length : i;
}

/**
 * The step to arm at a (re-)subscribe at `now`. Steps already past are skipped, but for the
 * `expiring` frame: a session that subscribes with less than the renew-before left gets it at
 * once (its time is past, so it is due now), unless `reached` (the step this session had
 * reached in this same plan: a re-subscribe with a token of the same `exp`) is beyond it, so
 * that a client re-sending the same token is not told again, in a loop.
 */
export function stepAtSubscribe(steps: RenewalStep[], now: number, reached?: number): number {
  const pending = firstPendingStep(steps, now);
  if (reached !== undefined) return Math.max(pending, reached);
  const expiring = steps.findIndex((s) => s.kind === 'expiring');
  return expiring !== -1 && expiring < pending ? expiring : pending;
}
