/**
 * SessionHost.subscribe against concurrent calls: a slower, older verification must not
 * overwrite the identity of a newer subscribe (Session.subscribeSeq). The gateways also
 * handle a session's frames one at a time; this holds without relying on that.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { Identity } from '../../src/auth/identity.js';
import { loadConfig } from '../../src/config/config.js';
import { SessionHost } from '../../src/sessions/session-host.js';
import { SessionRegistry } from '../../src/sessions/session-registry.js';
import { Session } from '../../src/sessions/session.js';

const identity = (user: string): Identity => ({ user, subject: user, profile: 'standard', roles: [], workspaces: [], subjects: ['*', `user:${user}`] });
const counter = { inc: () => undefined, dec: () => undefined };

function setup(token: (jwt: string) => Partial<Identity> = () => ({})) {
  const replies: Array<Record<string, unknown>> = [];
  const closes: number[] = [];
  const socket = { readyState: 1, OPEN: 1, CLOSING: 2, CLOSED: 3, close: (code: number) => void closes.push(code), terminate: () => undefined };
  const outbox = { control: (json: string) => replies.push(JSON.parse(json)), drop: () => undefined, close: () => undefined };
  const session = new Session('events', socket as never, outbox as never, () => undefined);
  const registry = new SessionRegistry();
  registry.add(session);
  /** Tokens named `slow-*` are verified when the test releases them. */
  const release = new Map<string, () => void>();
  const verifier = {
    verify: (jwt: string) =>
      new Promise<Identity>((resolve) => {
        const id = { ...identity(jwt), ...token(jwt) };
        if (jwt.startsWith('slow-')) release.set(jwt, () => resolve(id));
        else resolve(id);
      }),
  };
  const metrics = { subscribes: counter, sessions: counter, closes: counter };
  const host = new SessionHost('events', registry, verifier as never, loadConfig({}), metrics as never);
  return { host, session, registry, replies, release, closes };
}

describe('SessionHost.subscribe', () => {
  it('keeps the newer identity when the older verification finishes last', async () => {
    const { host, session, replies, release } = setup();
    const older = host.subscribe(session, 'slow-alice');
    await host.subscribe(session, 'bob');
    release.get('slow-alice')!();
    await older;
    expect(session.identity?.user).toBe('bob');
    expect(replies.filter((r) => r['@type'] === 'subscribed').map((r) => r.user)).toEqual(['bob']);
  });

  it('drops a verification that finishes after an unsubscribe', async () => {
    const { host, session, replies, release } = setup();
    const pending = host.subscribe(session, 'slow-alice');
    await host.unsubscribe(session);
    release.get('slow-alice')!();
    await pending;
    expect(session.identity).toBeUndefined();
    expect(replies).toEqual([]);
  });
});

describe('SessionHost renewal timer', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('sends each step of the plan once, in order, then closes 4401 at the end of the grace', async () => {
    jest.useFakeTimers({ now: 1_000_000_000_000 });
    const now = Date.now() / 1000;
    // Defaults: 60 s renew-before (capped at half the lifetime: 50 s), 30 s grace.
    const { host, session, replies, closes } = setup(() => ({ iat: now, exp: now + 100 }));
    await host.subscribe(session, 'alice');
    const seen = () => replies.map((r) => (r['@type'] === 'error' ? `error:${r.code}` : String(r['@type'])));
    expect(seen()).toEqual(['subscribed']);
    const at = async (seconds: number) => void (await jest.advanceTimersByTimeAsync(seconds * 1000 - (Date.now() - now * 1000)));
    await at(49);
    expect(seen()).toEqual(['subscribed']);
    await at(50);
    expect(seen()).toEqual(['subscribed', 'expiring']);
    await at(97);
    expect(seen()).toEqual(['subscribed', 'expiring', 'idm']);
    await at(115);
    expect(seen()).toEqual(['subscribed', 'expiring', 'idm', 'idm']);
    expect(closes).toEqual([]);
    await at(130);
    expect(seen()).toEqual(['subscribed', 'expiring', 'idm', 'idm', 'error:token_expired']);
    expect(closes).toEqual([4401]);
  });

  it('a re-subscribe with the same token past a step does not send it again', async () => {
    jest.useFakeTimers({ now: 1_000_000_000_000 });
    const now = Date.now() / 1000;
    const { host, session, replies } = setup(() => ({ iat: now, exp: now + 100 }));
    await host.subscribe(session, 'alice');
    await jest.advanceTimersByTimeAsync(60_000);
    await host.subscribe(session, 'alice');
    await jest.advanceTimersByTimeAsync(40_000);
    expect(replies.map((r) => r['@type'])).toEqual(['subscribed', 'expiring', 'subscribed', 'idm']);
  });
});
