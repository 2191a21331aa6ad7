/**
 * SessionHost.subscribe against concurrent calls: a slower, older verification must not
 * overwrite the identity of a newer subscribe (Session.subscribeSeq). The gateways also
 * handle a session's frames one at a time; this holds without relying on that.
 */
import { describe, expect, it } from '@jest/globals';
import type { Identity } from '../../src/auth/identity.js';
import { loadConfig } from '../../src/config/config.js';
import { SessionHost } from '../../src/sessions/session-host.js';
import { SessionRegistry } from '../../src/sessions/session-registry.js';
import { Session } from '../../src/sessions/session.js';

const identity = (user: string): Identity => ({ user, subject: user, profile: 'standard', roles: [], workspaces: [], subjects: ['*', `user:${user}`] });
const counter = { inc: () => undefined, dec: () => undefined };

function setup() {
  const replies: Array<Record<string, unknown>> = [];
  const socket = { readyState: 1, OPEN: 1, CLOSING: 2, CLOSED: 3, close: () => undefined, terminate: () => undefined };
  const outbox = { control: (json: string) => replies.push(JSON.parse(json)), drop: () => undefined, close: () => undefined };
  const session = new Session('events', socket as never, outbox as never);
  const registry = new SessionRegistry();
  registry.add(session);
  /** Tokens named `slow-*` are verified when the test releases them. */
  const release = new Map<string, () => void>();
  const verifier = {
    verify: (jwt: string) =>
      new Promise<Identity>((resolve) => (jwt.startsWith('slow-') ? release.set(jwt, () => resolve(identity(jwt))) : resolve(identity(jwt)))),
  };
  const metrics = { subscribes: counter, sessions: counter, closes: counter };
  const host = new SessionHost('events', registry, verifier as never, loadConfig({}), metrics as never);
  return { host, session, registry, replies, release };
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
