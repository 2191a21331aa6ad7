import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { JwtService, type JwtSignOptions } from '@nestjs/jwt';
import { exportJWK } from 'jose';
import { loadConfig } from '../../src/config/config.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { AuthError } from '../../src/auth/auth-error.js';

Logger.overrideLogger(false);

const SECRET = 'a-test-secret-of-reasonable-length';
const now = (): number => Math.floor(Date.now() / 1000);
const signer = new JwtService({});
/** Signs as an identity provider does: with an `exp` (10 min) unless the claims give one. */
const jwt = { sign: (claims: object, options: JwtSignOptions) => signer.sign({ exp: now() + 600, ...claims }, options) };

const b64url = (v: object | string): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token assembled by hand, so that the header says exactly what the test wants. */
function handMade(header: object, payload: object, sign: (input: string) => string = () => ''): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(input)}`;
}

const rsaPair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

const verifier = (env: Record<string, string>): TokenVerifier => new TokenVerifier(loadConfig(env));

describe('TokenVerifier: HS256 secret', () => {
  const v = verifier({ JWT_SECRET: SECRET });

  it('accepts a token signed with the secret and builds the identity', async () => {
    const exp = now() + 600;
    const token = jwt.sign({ name: 'alice', sub: 's1', profile: 'admin', roles: 'R1,R2', exp }, { secret: SECRET });
    const identity = await v.verify(token);
    expect(identity.user).toBe('alice');
    expect(identity.subject).toBe('s1');
    expect(identity.subjects).toEqual(['*', 'user:alice', 'profile:admin', 'role:R1', 'role:R2']);
    expect(identity.exp).toBe(exp);
  });

  it('accepts HS384 and HS512 too', async () => {
    for (const algorithm of ['HS384', 'HS512'] as const) {
      const token = jwt.sign({ name: 'alice' }, { secret: SECRET, algorithm });
      await expect(v.verify(token)).resolves.toMatchObject({ user: 'alice' });
    }
  });

  it.each<[string, () => string, string]>([
    ['wrong secret', () => jwt.sign({ name: 'alice' }, { secret: 'another-secret' }), 'invalid signature'],
    ['expired', () => jwt.sign({ name: 'alice', exp: now() - 60 }, { secret: SECRET }), 'token expired'],
    ['not active yet', () => jwt.sign({ name: 'alice', nbf: now() + 600 }, { secret: SECRET }), 'token not active yet'],
    ['alg none', () => handMade({ alg: 'none', typ: 'JWT' }, { name: 'alice' }), 'algorithm not accepted'],
    ['alg none with a valid-looking signature', () => handMade({ alg: 'none', typ: 'JWT' }, { name: 'alice' }, (i) => createHmac('sha256', SECRET).update(i).digest('base64url')), 'algorithm not accepted'],
    ['no alg at all', () => handMade({ typ: 'JWT' }, { name: 'alice' }), 'algorithm not accepted'],
    ['RS256 when only a secret is configured', () => jwt.sign({ name: 'alice' }, { privateKey: rsaPair().privateKey, algorithm: 'RS256' }), 'algorithm not accepted'],
    ['tampered payload', () => {
      const [h, , s] = jwt.sign({ name: 'alice' }, { secret: SECRET }).split('.');
      return `${h}.${b64url({ name: 'admin' })}.${s}`;
    }, 'invalid signature'],
    ['garbage string', () => 'garbage', 'malformed token'],
    ['three garbage segments', () => 'a.b.c', 'malformed token'],
    ['a token without claims naming a user', () => jwt.sign({ foo: 'bar' }, { secret: SECRET }), 'token names no user'],
  ])('refuses: %s', async (_name, make, reason) => {
    const result = v.verify(make());
    await expect(result).rejects.toThrow(AuthError);
    await expect(result).rejects.toThrow(reason);
  });

  it('refuses a token without exp, unless ALLOW_TOKENS_WITHOUT_EXP is set', async () => {
    const forever = signer.sign({ name: 'alice' }, { secret: SECRET });
    await expect(v.verify(forever)).rejects.toThrow(new AuthError('token has no expiry'));
    const lenient = verifier({ JWT_SECRET: SECRET, ALLOW_TOKENS_WITHOUT_EXP: 'true' });
    await expect(lenient.verify(forever)).resolves.toMatchObject({ user: 'alice', exp: undefined });
  });

  it('echoes only a short plain alg name in its refusal', async () => {
    const invented = handMade({ alg: 'X'.repeat(130), typ: 'JWT' }, { name: 'alice' });
    await expect(v.verify(invented)).rejects.toThrow(new AuthError('algorithm not accepted: unknown'));
    await expect(v.verify(handMade({ alg: 'HS1', typ: 'JWT' }, { name: 'alice' }))).rejects.toThrow(new AuthError('algorithm not accepted: HS1'));
  });

  it.each<[string, unknown]>([
    ['empty string', ''],
    ['blank string', '   '],
    ['undefined', undefined],
    ['null', null],
    ['number', 42],
    ['object', { jwt: 'x' }],
  ])('refuses %s as "empty jwt"', async (_name, token) => {
    await expect(v.verify(token)).rejects.toThrow(new AuthError('empty jwt'));
  });
});

describe('TokenVerifier: issuer and audience', () => {
  const v = verifier({ JWT_SECRET: SECRET, JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'switchboard' });

  it.each<[string, Record<string, unknown>, string | null]>([
    ['matching issuer and audience', { iss: 'https://idp', aud: 'switchboard' }, null],
    ['audience in a list', { iss: 'https://idp', aud: ['other', 'switchboard'] }, null],
    ['wrong issuer', { iss: 'https://evil', aud: 'switchboard' }, 'wrong issuer'],
    ['missing issuer', { aud: 'switchboard' }, 'wrong issuer'],
    ['wrong audience', { iss: 'https://idp', aud: 'other' }, 'wrong audience'],
    ['missing audience', { iss: 'https://idp' }, 'wrong audience'],
  ])('%s', async (_name, claims, reason) => {
    const result = v.verify(jwt.sign({ name: 'alice', ...claims }, { secret: SECRET }));
    if (reason === null) await expect(result).resolves.toMatchObject({ user: 'alice' });
    else await expect(result).rejects.toThrow(reason);
  });
});

describe('TokenVerifier: RS256 public key', () => {
  const { publicKey, privateKey } = rsaPair();
  const v = verifier({ JWT_PUBLIC_KEY: publicKey });

  it('accepts a token signed with the matching private key', async () => {
    const token = jwt.sign({ name: 'alice' }, { privateKey, algorithm: 'RS256' });
    await expect(v.verify(token)).resolves.toMatchObject({ user: 'alice', profile: 'standard' });
  });

  it('accepts the key given with escaped newlines', async () => {
    const escaped = verifier({ JWT_PUBLIC_KEY: publicKey.replace(/\n/g, '\\n') });
    const token = jwt.sign({ name: 'alice' }, { privateKey, algorithm: 'RS256' });
    await expect(escaped.verify(token)).resolves.toMatchObject({ user: 'alice' });
  });

  it('refuses a token signed with another private key', async () => {
    const token = jwt.sign({ name: 'alice' }, { privateKey: rsaPair().privateKey, algorithm: 'RS256' });
    await expect(v.verify(token)).rejects.toThrow('invalid signature');
  });

  it('refuses an HS256 token whose HMAC secret is the public key text (algorithm confusion)', async () => {
    const forged = handMade({ alg: 'HS256', typ: 'JWT' }, { name: 'admin', profile: 'admin' }, (input) =>
      createHmac('sha256', publicKey).update(input).digest('base64url'),
    );
    const result = v.verify(forged);
    await expect(result).rejects.toThrow(AuthError);
    await expect(result).rejects.toThrow('algorithm not accepted');
  });

  it('refuses alg none', async () => {
    await expect(v.verify(handMade({ alg: 'none', typ: 'JWT' }, { name: 'alice' }))).rejects.toThrow('algorithm not accepted');
  });

  it('refuses an expired token', async () => {
    const token = jwt.sign({ name: 'alice', exp: now() - 60 }, { privateKey, algorithm: 'RS256' });
    await expect(v.verify(token)).rejects.toThrow('token expired');
  });
});

describe('TokenVerifier: nothing configured', () => {
  const v = verifier({});

  it('is not configured', () => {
    expect(v.configured).toBe(false);
    expect(verifier({ JWT_SECRET: SECRET }).configured).toBe(true);
  });

  it('refuses every token', async () => {
    const token = jwt.sign({ name: 'alice' }, { secret: SECRET });
    await expect(v.verify(token)).rejects.toThrow(new AuthError('no token verification key configured'));
  });

  it('still says "empty jwt" for an empty one', async () => {
    await expect(v.verify('')).rejects.toThrow('empty jwt');
  });
});

describe('TokenVerifier: JWKS URL and workspace resolver', () => {
  const known = rsaPair();
  const unknown = rsaPair();
  let server: Server;
  let base: string;
  let jwksHits = 0;
  let resolverAuth: string | undefined;

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(createPublicKey(known.publicKey))), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      if (req.url === '/jwks') {
        jwksHits++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      } else if (req.url === '/workspaces') {
        resolverAuth = req.headers.authorization;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify([{ uuid: 'w9', slug: 'nine', roots: [{ path: '/p/nine/' }] }]));
      } else {
        res.writeHead(500);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const sign = (privateKey: string, keyid: string, claims: Record<string, unknown> = { name: 'alice' }) =>
    jwt.sign(claims, { privateKey, algorithm: 'RS256', keyid });

  it('accepts a token signed with a key of the set', async () => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks` });
    await expect(v.verify(sign(known.privateKey, 'k1'))).resolves.toMatchObject({ user: 'alice' });
    expect(jwksHits).toBeGreaterThan(0);
  });

  it('refuses a token with an unknown kid', async () => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks` });
    const result = v.verify(sign(unknown.privateKey, 'k2'));
    await expect(result).rejects.toThrow(AuthError);
    await expect(result).rejects.toThrow('unknown signing key');
  });

  it('refuses a token with the known kid but signed by another key', async () => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks` });
    await expect(v.verify(sign(unknown.privateKey, 'k1'))).rejects.toThrow('invalid signature');
  });

  it('refuses an expired token', async () => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks` });
    await expect(v.verify(sign(known.privateKey, 'k1', { name: 'alice', exp: now() - 60 }))).rejects.toThrow('token expired');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['wrong issuer', { name: 'alice', iss: 'https://evil', aud: 'switchboard' }, 'wrong issuer'],
    ['wrong audience', { name: 'alice', iss: 'https://idp', aud: 'other' }, 'wrong audience'],
  ])('refuses %s', async (_name, claims, reason) => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks`, JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'switchboard' });
    await expect(v.verify(sign(known.privateKey, 'k1', claims))).rejects.toThrow(reason);
  });

  it('refuses HS256 and alg none when only a JWKS is configured', async () => {
    const v = verifier({ JWT_JWKS_URL: `${base}/jwks` });
    await expect(v.verify(jwt.sign({ name: 'alice' }, { secret: SECRET }))).rejects.toThrow('algorithm not accepted');
    await expect(v.verify(handMade({ alg: 'none', typ: 'JWT', kid: 'k1' }, { name: 'alice' }))).rejects.toThrow('algorithm not accepted');
  });

  it('takes the workspaces from the resolver, sending the token as a bearer', async () => {
    const v = verifier({ JWT_SECRET: SECRET, WORKSPACES_URL: `${base}/workspaces` });
    const token = jwt.sign({ name: 'alice', workspaces: [{ uuid: 'w1', roots: [{ path: 'a' }] }] }, { secret: SECRET });
    const identity = await v.verify(token);
    expect(identity.workspaces).toEqual([{ uuid: 'w9', slug: 'nine', label: undefined, roots: [{ path: 'p/nine', uuid: undefined }] }]);
    expect(resolverAuth).toBe(`Bearer ${token}`);
  });

  it('refuses the token when the resolver fails', async () => {
    const v = verifier({ JWT_SECRET: SECRET, WORKSPACES_URL: `${base}/broken` });
    await expect(v.verify(jwt.sign({ name: 'alice' }, { secret: SECRET }))).rejects.toThrow('workspaces unavailable');
  });
});
