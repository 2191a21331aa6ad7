import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { HttpAnswerRefused, boundedFetchFn, fetchBounded, parseJson } from '../common/bounded-fetch.js';
import { CONFIG, type Config } from '../config/config.js';
import { MemoryBudget } from '../memory/memory-budget.js';
import { AuthError } from './auth-error.js';
import { identityFromClaims, parseWorkspaces } from './claims.js';
import type { Identity, Workspace } from './identity.js';

type Algorithm = NonNullable<JwtVerifyOptions['algorithms']>[number];
const HMAC: Algorithm[] = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];

/** Verifies a subscribe JWT (HS secret, RS/ES public key, or JWKS URL) and turns it into an Identity. */
@Injectable()
export class TokenVerifier {
  private readonly log = new Logger(TokenVerifier.name);
  private readonly jwt = new JwtService({});
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;
  /**
   * The keys as KeyObjects, made once: given a string, jsonwebtoken tries to read it as a
   * public key (which throws for a secret) and then builds a key, on every verification;
   * that was most of a subscribe's CPU.
   */
  private readonly secretKey?: KeyObject;
  private readonly publicKey?: KeyObject;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Optional() private readonly memory?: MemoryBudget,
  ) {
    const { jwksUrl, secret, publicKey } = config.jwt;
    if (secret) this.secretKey = createSecretKey(Buffer.from(secret));
    if (publicKey) this.publicKey = createPublicKey(publicKey);
    if (jwksUrl) {
      // jose would read the answer whole: it is given a fetch that streams it within JWT_JWKS_MAX_BYTES.
      const jwksFetch = boundedFetchFn({ target: 'jwks', maxBytes: config.jwt.jwksMaxBytes, timeoutMs: 5000 });
      this.jwks = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000, [customFetch]: jwksFetch });
    }
    if (!this.configured) this.log.warn('No JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL: every subscribe will be refused');
  }

  get configured(): boolean {
    const { secret, publicKey, jwksUrl } = this.config.jwt;
    return Boolean(secret || publicKey || jwksUrl);
  }

  async verify(token: unknown): Promise<Identity> {
    if (typeof token !== 'string' || token.trim() === '') throw new AuthError('empty jwt');
    if (!this.configured) throw new AuthError('no token verification key configured');
    const { issuer, audience } = this.config.jwt;
    let claims: Record<string, unknown>;
    try {
      const alg = this.algorithmOf(token);
      claims = this.usesJwks(alg)
        ? (await jwtVerify(token, this.jwks!, { issuer, audience, algorithms: ASYMMETRIC })).payload
        : await this.jwt.verifyAsync(token, { ...this.keyFor(alg), issuer, audience });
    } catch (err) {
      if (err instanceof AuthError) throw err;
      throw new AuthError(reasonOf(err));
    }
    // A token without exp would open a session that never ends (PROTOCOL 2).
    if (typeof claims.exp !== 'number' && !this.config.jwt.allowWithoutExp) throw new AuthError('token has no expiry');
    const identity = identityFromClaims(claims);
    if (this.config.workspacesUrl) identity.workspaces = await this.resolveWorkspaces(token);
    return identity;
  }

  private algorithmOf(token: string): Algorithm {
    const header = this.jwt.decode(token, { complete: true })?.header as { alg?: string } | undefined;
    if (!header) throw new AuthError('malformed token');
    return (header.alg ?? '') as Algorithm;
  }

  /** Asymmetric tokens go to the JWKS when one is configured and no static key takes them. */
  private usesJwks(alg: Algorithm): boolean {
    return Boolean(this.jwks) && ASYMMETRIC.includes(alg) && !this.config.jwt.publicKey;
  }

  /** Key and allowed algorithms for this token; `alg: none` is never among them. */
  private keyFor(alg: Algorithm): JwtVerifyOptions {
    // jsonwebtoken takes KeyObjects; @nestjs/jwt's types only say string or Buffer.
    if (this.secretKey && HMAC.includes(alg)) return { secret: this.secretKey as unknown as string, algorithms: HMAC };
    if (this.publicKey && ASYMMETRIC.includes(alg)) return { publicKey: this.publicKey as unknown as string, algorithms: ASYMMETRIC };
    // The header is the client's: only a short, plain name is echoed back.
    const shown = /^[A-Za-z0-9]{1,16}$/.test(alg) ? alg : alg ? 'unknown' : 'none';
    throw new AuthError(`algorithm not accepted: ${shown}`);
  }

  private async resolveWorkspaces(token: string): Promise<Workspace[]> {
    try {
      const answer = await fetchBounded(
        this.config.workspacesUrl!,
        { headers: { authorization: `Bearer ${token}` } },
        { target: 'workspaces', maxBytes: this.config.workspacesMaxBytes, timeoutMs: 5000, reserve: this.memory && ((bytes) => this.memory!.reserve(bytes, 'http_answer')) },
      );
      if (!answer.ok) throw new Error(`answer refused: ${answer.result}${answer.status ? ` (HTTP ${answer.status})` : ''}`);
      return parseWorkspaces(parseJson(answer.body));
    } catch (err) {
      this.log.warn(`workspace resolver failed: ${(err as Error).message}`);
      throw new AuthError('workspaces unavailable');
    }
  }
}

/** Maps jsonwebtoken's and jose's errors to short client-facing reasons. */
function reasonOf(err: unknown): string {
  const name = (err as Error)?.name;
  const code = (err as { code?: string })?.code;
  const message = String((err as Error)?.message ?? '');
  if (name === 'TokenExpiredError' || code === 'ERR_JWT_EXPIRED') return 'token expired';
  // The keys could not be had: not found, the JWKS endpoint slow, or its answer refused (too large, a redirect...).
  if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_TIMEOUT' || err instanceof HttpAnswerRefused) return 'unknown signing key';
  if (name === 'NotBeforeError') return 'token not active yet';
  if (message.includes('audience') || message.includes('"aud"')) return 'wrong audience';
  if (message.includes('issuer') || message.includes('"iss"')) return 'wrong issuer';
  if (message.includes('signature')) return 'invalid signature';
  if (message.includes('algorithm')) return 'algorithm not accepted';
  return 'malformed token';
}
