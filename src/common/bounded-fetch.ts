/**
 * Reading the answer of an HTTP endpoint the service calls (node lookup, NODE chat
 * authorization, workspaces resolver, JWKS) within bounds: a whole-request timeout, a byte
 * limit on the body, which is streamed and dropped past the limit (never read whole first),
 * optionally bytes reserved against the memory budget while it is held, and no redirect
 * followed. Those endpoints are configured by the operator and answer directly; a redirect
 * would send the request (and the user's bearer token, for some) somewhere nobody configured,
 * so a 3xx is a failure like any other status (jose asks for the JWKS the same way).
 *
 * Never rejects: the answer says what happened, with one of a fixed set of results, and
 * every result is tallied per target for `switchboard_http_answers_total`.
 */

/** Who calls: the `target` label (a fixed set). */
export type HttpTarget = 'node_lookup' | 'node_auth' | 'workspaces' | 'jwks';
/** What came of it: the `result` label (a fixed set). */
export type HttpResult = 'ok' | 'status' | 'redirect' | 'too_large' | 'timeout' | 'memory' | 'error';

export interface BoundedFetchOptions {
  target: HttpTarget;
  /** Largest body read; past it the body is dropped and the result is `too_large`. */
  maxBytes: number;
  /** The whole request, body included. */
  timeoutMs: number;
  fetchFn?: typeof fetch;
  /**
   * Holds the body's bytes against the memory budget while it is read (the declared length,
   * else `maxBytes`); undefined: refused (result `memory`). Released before the answer is returned.
   */
  reserve?: (bytes: number) => { release(): void } | undefined;
}

export type BoundedAnswer = { ok: true; status: number; body: Buffer } | { ok: false; result: Exclude<HttpResult, 'ok'>; status?: number };

const tally = new Map<string, number>();

/** [target, result, count] since the process started. */
export function httpAnswerTally(): [HttpTarget, HttpResult, number][] {
  return [...tally].map(([key, n]) => [...(key.split(' ') as [HttpTarget, HttpResult]), n]);
}

function count(target: HttpTarget, result: HttpResult): void {
  const key = `${target} ${result}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
}

/** `init.redirect` and `init.signal` are the helper's: no redirect is followed, and its timeout applies. */
export async function fetchBounded(url: string | URL, init: RequestInit, opts: BoundedFetchOptions): Promise<BoundedAnswer> {
  const answer = await fetchWithin(url, init, opts);
  count(opts.target, answer.ok ? 'ok' : answer.result);
  return answer;
}

async function fetchWithin(url: string | URL, init: RequestInit, opts: BoundedFetchOptions): Promise<BoundedAnswer> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  const failed = (): BoundedAnswer => ({ ok: false, result: signal.aborted ? 'timeout' : 'error' });
  let res: Response;
  try {
    res = await (opts.fetchFn ?? fetch)(url, { ...init, redirect: 'manual', signal });
  } catch {
    return failed();
  }
  const { status } = res;
  const drop = (result: Exclude<HttpResult, 'ok'>): BoundedAnswer => {
    // Frees the connection at once instead of when the Response is collected.
    res.body?.cancel().catch(() => {});
    return { ok: false, result, status };
  };
  if (status >= 300 && status < 400) return drop('redirect');
  if (!res.ok) return drop('status');
  const header = res.headers.get('content-length');
  const declared = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  if (declared !== undefined && declared > opts.maxBytes) return drop('too_large');
  const reservation = opts.reserve ? opts.reserve(declared ?? opts.maxBytes) : { release() {} };
  if (!reservation) return drop('memory');
  try {
    const body = await readAtMost(res, opts.maxBytes);
    return body ? { ok: true, status, body } : { ok: false, result: 'too_large', status };
  } catch {
    return failed();
  } finally {
    reservation.release();
  }
}

/** The body, or undefined (and the rest of it dropped) once it passes `maxBytes`. */
async function readAtMost(res: Response, maxBytes: number): Promise<Buffer | undefined> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, total);
    total += value.byteLength;
    if (total > maxBytes) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
}

/** Why a `boundedFetchFn` threw. */
export class HttpAnswerRefused extends Error {
  constructor(readonly result: Exclude<HttpResult, 'ok'>) {
    super(`HTTP answer refused: ${result}`);
  }
}

/**
 * The same bounds as a `fetch`, for a library that takes one (jose's JWKS): the answer comes
 * back as a Response built from the bounded body; a refused one is thrown as HttpAnswerRefused.
 */
export function boundedFetchFn(opts: BoundedFetchOptions): typeof fetch {
  return async (url, init) => {
    const answer = await fetchBounded(url instanceof Request ? url.url : url, init ?? {}, opts);
    if (!answer.ok) throw new HttpAnswerRefused(answer.result);
    return new Response(new Uint8Array(answer.body), { status: answer.status });
  };
}

/** The body as JSON; undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
