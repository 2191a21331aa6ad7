import { SignJWT } from 'jose';
import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import type { Identity } from '../auth/identity.js';

/** Seconds a call's identity token outlives the call's timeout: room for clock skew, not for reuse. */
const SKEW_SECONDS = 30;

/** What the identity token of a call says (PROTOCOL 9): the backend trusts these, never the params. */
export interface CallClaims {
  iss: string;
  /** The method called: a token made for one method is refused by another's backend. */
  aud: string;
  sub: string;
  user: string;
  profile: string;
  roles: string[];
  workspaces: { uuid: string; slug: string }[];
  /** The calling session (`sessionId` of its `subscribed` ack). */
  sid: string;
  /** Unique per call: a backend may refuse a token it saw already. */
  jti: string;
  /** Hex SHA-256 of the exact request body: binds the params to the token. */
  body_sha256: string;
  iat: number;
  exp: number;
}

/**
 * Signs the short-lived identity token each call carries (HS256, CALL_SIGNING_SECRET): the
 * caller's verified identity, as the service knows it. The client's own token is never
 * forwarded: a backend would otherwise hold a token it could replay against the service.
 */
export class CallTokens {
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly issuer: string,
    private readonly lifetimeSeconds: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret));
  }

  sign(identity: Identity, sessionId: string, method: string, body: Buffer): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      user: identity.user,
      profile: identity.profile,
      roles: identity.roles,
      workspaces: identity.workspaces.map(({ uuid, slug }) => ({ uuid, slug })),
      sid: sessionId,
      body_sha256: createHash('sha256').update(body).digest('hex'),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(method)
      .setSubject(identity.subject)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + this.lifetimeSeconds + SKEW_SECONDS)
      .sign(this.key);
  }
}
