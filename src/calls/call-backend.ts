import { jsonTooDeep } from '../common/json-bounds.js';
import type { ErrorCode } from '../protocol/frames.js';

/** What a backend's answer to a call comes to: a result, or an error frame's code, text and extras. */
export type CallOutcome =
  | { ok: true; result: unknown }
  | { ok: false; code: Extract<ErrorCode, 'call_timeout' | 'call_refused' | 'call_failed' | 'call_too_large'>; error: string; status?: number; data?: unknown };

export interface BackendLimits {
  timeoutMs: number;
  maxResponseBytes: number;
  maxJsonDepth: number;
}

/** Aborted by the caller (the session closed or changed hands): nobody waits for the answer. */
export class CallCancelled extends Error {}

const failed = (error: string, status?: number): CallOutcome => ({ ok: false, code: 'call_failed', error, status });
const tooLarge = (status: number): CallOutcome => ({ ok: false, code: 'call_too_large', error: 'backend answer too large', status });
const TIMEOUT: CallOutcome = { ok: false, code: 'call_timeout', error: 'backend did not answer in time' };

/**
 * POSTs one call to its backend and reads the answer, within bounds: the whole exchange
 * (connect, headers, body) within `timeoutMs`; the body read as a stream and dropped past
 * `maxResponseBytes` (a declared Content-Length over it is not read at all); no redirect
 * followed (a 3xx is a failure: a redirect could send the identity token to another origin).
 * 2xx: the JSON body (empty: null) is the result. 4xx: `call_refused` with the status and the
 * JSON body as `data` (the backend's own words to its client). Anything else: `call_failed`
 * with the status; a 5xx body is never forwarded (it may hold a stack trace). Never rejects,
 * but with CallCancelled when `cancel` aborts.
 */
export async function postCall(url: string, body: Buffer, token: string, limits: BackendLimits, cancel: AbortSignal): Promise<CallOutcome> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = AbortSignal.any([timeout, cancel]);
  const settle = (outcome: CallOutcome): CallOutcome => {
    if (cancel.aborted) throw new CallCancelled();
    return outcome;
  };
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
      redirect: 'manual',
      signal,
    });
  } catch {
    return settle(timeout.aborted ? TIMEOUT : failed('backend unreachable'));
  }
  const { status } = response;
  const refused = status >= 400 && status < 500;
  if (!(status >= 200 && status < 300) && !refused) {
    void response.body?.cancel().catch(() => undefined);
    return settle(status >= 300 && status < 400 ? failed('backend redirected (not followed)', status) : failed('backend failed', status));
  }
  let text: string | undefined;
  try {
    text = await readBounded(response, limits.maxResponseBytes);
  } catch {
    return settle(timeout.aborted ? TIMEOUT : failed('backend failed', status));
  }
  if (text === undefined) return settle(tooLarge(status));
  const value = parseJson(text, limits.maxJsonDepth);
  if (refused) return settle({ ok: false, code: 'call_refused', error: 'backend refused the call', status, ...(value.ok && value.value !== null && { data: value.value }) });
  return settle(value.ok ? { ok: true, result: value.value } : failed('backend answer is not JSON', status));
}

/** The body as text, or undefined once it passes `max` bytes (then the rest is not read). */
async function readBounded(response: Response, max: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > max || !response.body) {
    void response.body?.cancel().catch(() => undefined);
    return declared > max ? undefined : '';
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      void reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function parseJson(text: string, maxDepth: number): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') return { ok: true, value: null };
  if (jsonTooDeep(text, maxDepth)) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
