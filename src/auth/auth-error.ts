/** A token was refused; `message` is the short reason sent to the client (never token contents). */
export class AuthError extends Error {}

/**
 * The `result` label of switchboard_subscribes_total: a fixed, small set. A refusal
 * reason can carry client input (an invented `alg`), so it never becomes a label itself.
 */
export type SubscribeResult =
  | 'ok'
  | 'empty_jwt'
  | 'not_configured'
  | 'expired'
  | 'no_expiry'
  | 'not_active'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'invalid_signature'
  | 'algorithm'
  | 'unknown_key'
  | 'malformed'
  | 'no_user'
  | 'workspaces'
  | 'revoked'
  | 'too_many_sessions'
  | 'other';

/** Reason prefix -> label; the first match wins. */
const RESULTS: [string, SubscribeResult][] = [
  ['empty jwt', 'empty_jwt'],
  ['no token verification key', 'not_configured'],
  ['token expired', 'expired'],
  ['token has no expiry', 'no_expiry'],
  ['token not active', 'not_active'],
  ['wrong audience', 'wrong_audience'],
  ['wrong issuer', 'wrong_issuer'],
  ['invalid signature', 'invalid_signature'],
  ['algorithm not accepted', 'algorithm'],
  ['unknown signing key', 'unknown_key'],
  ['malformed token', 'malformed'],
  ['token names no user', 'no_user'],
  ['workspaces', 'workspaces'],
  ['user removed', 'revoked'],
  ['too many sessions', 'too_many_sessions'],
];

export function subscribeResult(reason: string): SubscribeResult {
  return RESULTS.find(([prefix]) => reason.startsWith(prefix))?.[1] ?? 'other';
}
