import { describe, expect, it } from '@jest/globals';
import type { Identity } from '../../src/auth/identity.js';
import { Revocations, foldLogin } from '../../src/auth/revocations.js';
import { loadConfig } from '../../src/config/config.js';

const identity = (user: string, subject: string, iat?: number): Identity => ({
  user,
  subject,
  profile: 'standard',
  roles: [],
  workspaces: [],
  subjects: [],
  iat,
});

describe('Revocations (embedded: in memory)', () => {
  const deletedAt = Math.floor(Date.now() / 1000) * 1000 + 500; // ms, in the middle of a second
  const second = Math.floor(deletedAt / 1000);

  it.each<[string, { login?: string; subject?: string }, Identity, boolean]>([
    ['token issued the second before', { login: 'alice' }, identity('alice', 'u-a', second - 1), true],
    ['token of the deletion\'s own second (may be older)', { login: 'alice' }, identity('alice', 'u-a', second), true],
    ['token issued the second after', { login: 'alice' }, identity('alice', 'u-a', second + 1), false],
    ['token without iat', { login: 'alice' }, identity('alice', 'u-a'), true],
    ['matched by subject (User.Uuid) only', { subject: 'u-a' }, identity('alice', 'u-a', second - 1), true],
    ['another user', { login: 'alice', subject: 'u-a' }, identity('bob', 'u-b', second - 1), false],
  ])('%s', async (_name, user, who, expected) => {
    const r = new Revocations(loadConfig({}));
    r.revoke(user, deletedAt);
    expect(await r.isRevoked(who)).toBe(expected);
    expect(r.revokedLocally(who)).toBe(expected);
  });

  it('forgets a deletion once no token issued before it can be alive (max lifetime + grace)', async () => {
    const r = new Revocations(loadConfig({ TOKEN_MAX_LIFETIME_SECONDS: '60', TOKEN_EXPIRY_GRACE_SECONDS: '0' }));
    r.revoke({ login: 'alice' }, Date.now() - 61_000);
    expect(await r.isRevoked(identity('alice', 'u-a'))).toBe(false);
    r.revoke({ login: 'alice' }, Date.now() - 59_000);
    expect(await r.isRevoked(identity('alice', 'u-a'))).toBe(true);
  });
});

describe('logins that differ in case', () => {
  // Cells compares logins exactly unless its user service has loginCI (then LOWER() in SQL and strings.EqualFold).
  it.each<[string, Record<string, string>, string, boolean]>([
    ['"Alice" after deleting "alice", Cells default (exact)', {}, 'Alice', false],
    ['"Alice" after deleting "alice", LOGIN_CASE_INSENSITIVE', { LOGIN_CASE_INSENSITIVE: 'true' }, 'Alice', true],
    ['"ALICE" after deleting "alice", LOGIN_CASE_INSENSITIVE', { LOGIN_CASE_INSENSITIVE: 'true' }, 'ALICE', true],
    ['"alicia" after deleting "alice", LOGIN_CASE_INSENSITIVE', { LOGIN_CASE_INSENSITIVE: 'true' }, 'alicia', false],
  ])('%s', async (_name, env, login, expected) => {
    const r = new Revocations(loadConfig(env));
    r.revoke({ login: 'alice' });
    const who = identity(login, 'u-other');
    expect(await r.isRevoked(who)).toBe(expected);
    expect(r.revokedLocally(who)).toBe(expected);
  });

  // Go's strings.EqualFold: simple case folding, one code point for one.
  it.each<[string, string, string]>([
    ['ASCII', 'Alice.Dupont', 'alice.dupont'],
    ['accents', 'ÉLODIE', 'élodie'],
    ['Kelvin sign folds to k', '\u212Aim', 'kim'],
    ['long s folds to s', '\u017Fam', 'sam'],
    ['sharp s is not expanded (EqualFold("ß", "ss") is false)', 'Straße', 'straße'],
    ['dotted capital I is left alone (no simple fold)', '\u0130zmir', '\u0130zmir'],
    ['Greek final sigma', 'ΟΔΟΣ', 'οδοσ'],
  ])('%s', (_name, login, folded) => {
    expect(foldLogin(login)).toBe(folded);
  });
});
