import { describe, it, expect } from '@jest/globals';
import { identityFromClaims, parseWorkspaces } from '../../src/auth/claims.js';
import { AuthError } from '../../src/auth/auth-error.js';
import type { Workspace } from '../../src/auth/identity.js';

describe('identityFromClaims: user', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['name first', { name: 'alice', preferred_username: 'al', sub: 's1' }, 'alice'],
    ['preferred_username when no name', { preferred_username: 'al', sub: 's1' }, 'al'],
    ['sub when neither', { sub: 's1' }, 's1'],
    ['blank name skipped', { name: '  ', preferred_username: 'al', sub: 's1' }, 'al'],
    ['non-string name skipped', { name: 42, sub: 's1' }, 's1'],
    ['name trimmed', { name: ' alice ' }, 'alice'],
  ])('%s', (_name, claims, user) => {
    expect(identityFromClaims(claims).user).toBe(user);
  });

  it.each<[string, Record<string, unknown>]>([
    ['no claims at all', {}],
    ['only blank values', { name: '', preferred_username: ' ', sub: '' }],
    ['non-string values', { name: 1, preferred_username: null, sub: {} }],
  ])('refuses a token that names no user: %s', (_name, claims) => {
    expect(() => identityFromClaims(claims)).toThrow(AuthError);
    expect(() => identityFromClaims(claims)).toThrow('token names no user');
  });

  it('subject is sub, else the user', () => {
    expect(identityFromClaims({ name: 'alice', sub: 's1' }).subject).toBe('s1');
    expect(identityFromClaims({ name: 'alice' }).subject).toBe('alice');
  });
});

describe('identityFromClaims: profile and roles', () => {
  it.each<[string, unknown, string]>([
    ['missing', undefined, 'standard'],
    ['empty', '', 'standard'],
    ['non-string', 3, 'standard'],
    ['admin', 'admin', 'admin'],
    ['shared', 'shared', 'shared'],
  ])('profile %s -> %s', (_name, profile, expected) => {
    expect(identityFromClaims({ name: 'alice', profile }).profile).toBe(expected);
  });

  it.each<[string, unknown, string[]]>([
    ['missing', undefined, []],
    ['array', ['r1', 'r2'], ['r1', 'r2']],
    ['array trimmed, deduped, blanks and non-strings dropped', [' r1 ', 'r2', 'r1', '', 7, null, 'r2 '], ['r1', 'r2']],
    ['comma-separated string', 'r1,r2,r3', ['r1', 'r2', 'r3']],
    ['comma-separated string trimmed and deduped', ' r1 , r2,,r1 ,', ['r1', 'r2']],
    ['single role string', 'ADMIN', ['ADMIN']],
    ['empty string', '', []],
    ['number', 5, []],
    ['object', { r1: true }, []],
  ])('roles %s', (_name, roles, expected) => {
    expect(identityFromClaims({ name: 'alice', roles }).roles).toEqual(expected);
  });
});

describe('identityFromClaims: subjects, iat, exp', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['defaults', { name: 'alice' }, ['*', 'user:alice', 'profile:standard']],
    ['profile and roles', { name: 'bob', profile: 'admin', roles: 'ADMINS, R2' }, ['*', 'user:bob', 'profile:admin', 'role:ADMINS', 'role:R2']],
    ['login from sub', { sub: 'carol', roles: ['x', 'x'] }, ['*', 'user:carol', 'profile:standard', 'role:x']],
  ])('subjects: %s', (_name, claims, subjects) => {
    expect(identityFromClaims(claims).subjects).toEqual(subjects);
  });

  it('keeps a numeric iat and exp, not the claims (a session holds its identity for its whole life)', () => {
    const identity = identityFromClaims({ name: 'alice', iat: 1_800_000_000, exp: 1_900_000_000, custom: 'x', workspaces: [] });
    expect([identity.iat, identity.exp]).toEqual([1_800_000_000, 1_900_000_000]);
    expect(Object.keys(identity).sort()).toEqual(['exp', 'iat', 'profile', 'roles', 'subject', 'subjects', 'user', 'workspaces']);
  });

  it.each<[string, unknown]>([
    ['missing', undefined],
    ['string', '1800000000'],
  ])('iat %s -> undefined', (_name, iat) => {
    expect(identityFromClaims({ name: 'alice', iat }).iat).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ['missing', undefined],
    ['string', '1900000000'],
  ])('exp %s -> undefined', (_name, exp) => {
    expect(identityFromClaims({ name: 'alice', exp }).exp).toBeUndefined();
  });

  it('takes workspaces from the claim, as an array or a JSON string', () => {
    const ws = [{ uuid: 'w1', slug: 'projects', roots: [{ uuid: 'r', path: 'pydiods1/projects' }] }];
    const expected: Workspace[] = [{ uuid: 'w1', slug: 'projects', label: undefined, roots: [{ uuid: 'r', path: 'pydiods1/projects' }] }];
    expect(identityFromClaims({ name: 'alice', workspaces: ws }).workspaces).toEqual(expected);
    expect(identityFromClaims({ name: 'alice', workspaces: JSON.stringify(ws) }).workspaces).toEqual(expected);
    expect(identityFromClaims({ name: 'alice' }).workspaces).toEqual([]);
  });
});

describe('parseWorkspaces', () => {
  const full = {
    uuid: 'w1',
    slug: 'projects',
    label: 'Projects',
    roots: [{ uuid: 'n-root', path: 'pydiods1/projects' }],
  };

  it.each<[string, unknown, Workspace[]]>([
    ['the PROTOCOL 3.1 example', [full], [{ uuid: 'w1', slug: 'projects', label: 'Projects', roots: [{ uuid: 'n-root', path: 'pydiods1/projects' }] }]],
    ['the same as a JSON string', JSON.stringify([full]), [{ uuid: 'w1', slug: 'projects', label: 'Projects', roots: [{ uuid: 'n-root', path: 'pydiods1/projects' }] }]],
    ['empty list', [], []],
    ['slug defaults to uuid', [{ uuid: 'w1', roots: [] }], [{ uuid: 'w1', slug: 'w1', label: undefined, roots: [] }]],
    ['empty slug defaults to uuid', [{ uuid: 'w1', slug: '', roots: [] }], [{ uuid: 'w1', slug: 'w1', label: undefined, roots: [] }]],
    ['non-string label dropped', [{ uuid: 'w1', slug: 's', label: 5, roots: [] }], [{ uuid: 'w1', slug: 's', label: undefined, roots: [] }]],
    ['missing roots -> none', [{ uuid: 'w1', slug: 's' }], [{ uuid: 'w1', slug: 's', label: undefined, roots: [] }]],
    ['roots not a list -> none', [{ uuid: 'w1', slug: 's', roots: { path: 'a' } }], [{ uuid: 'w1', slug: 's', label: undefined, roots: [] }]],
    [
      'slashes trimmed from root paths',
      [{ uuid: 'w1', slug: 's', roots: [{ path: '/a/b/' }, { path: '//c//' }] }],
      [{ uuid: 'w1', slug: 's', label: undefined, roots: [{ path: 'a/b', uuid: undefined }, { path: 'c', uuid: undefined }] }],
    ],
    [
      'roots without a string path dropped',
      [{ uuid: 'w1', slug: 's', roots: [{ uuid: 'r1' }, { path: 3 }, null, 'a/b', { path: 'ok', uuid: 'r2' }] }],
      [{ uuid: 'w1', slug: 's', label: undefined, roots: [{ path: 'ok', uuid: 'r2' }] }],
    ],
    [
      'empty and "/" root paths dropped (they would widen visibility to the whole tree)',
      [{ uuid: 'w1', slug: 's', roots: [{ path: '' }, { path: '/' }, { path: '///' }, { path: 'x' }] }],
      [{ uuid: 'w1', slug: 's', label: undefined, roots: [{ path: 'x', uuid: undefined }] }],
    ],
    [
      'non-string root uuid dropped',
      [{ uuid: 'w1', slug: 's', roots: [{ path: 'x', uuid: 12 }] }],
      [{ uuid: 'w1', slug: 's', label: undefined, roots: [{ path: 'x', uuid: undefined }] }],
    ],
    [
      'entries without a uuid dropped, the others kept in order',
      [{ slug: 'a' }, { uuid: '', slug: 'b' }, { uuid: 7 }, null, 'w9', ['w8'], { uuid: 'w2' }, { uuid: 'w3', slug: 'three' }],
      [
        { uuid: 'w2', slug: 'w2', label: undefined, roots: [] },
        { uuid: 'w3', slug: 'three', label: undefined, roots: [] },
      ],
    ],
  ])('%s', (_name, raw, expected) => {
    expect(parseWorkspaces(raw)).toEqual(expected);
  });

  it.each<[string, unknown, string]>([
    ['a string that is not JSON', '[{uuid:', 'workspaces claim is not JSON'],
    ['a JSON string that is not a list', '{"uuid":"w1"}', 'workspaces claim is not a list'],
    ['an object', { uuid: 'w1' }, 'workspaces claim is not a list'],
    ['a number', 3, 'workspaces claim is not a list'],
    ['null', null, 'workspaces claim is not a list'],
  ])('refuses %s', (_name, raw, message) => {
    expect(() => parseWorkspaces(raw)).toThrow(AuthError);
    expect(() => parseWorkspaces(raw)).toThrow(message);
  });
});

describe('parsed claims shared between identities', () => {
  const claim = [{ uuid: 'w1', slug: 'one', roots: [{ path: '/ds/a/', uuid: 'r1' }] }];

  it.each<[string, unknown]>([
    ['an array', claim],
    ['a JSON string', JSON.stringify(claim)],
  ])('equal workspace claims (%s): a Workspace object per call, its roots shared and frozen', (_name, raw) => {
    const [a, b] = [parseWorkspaces(raw), parseWorkspaces(structuredClone(raw))];
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
    // The node delivery keys a session's workspaces by object: two sessions must never share one.
    expect(a[0]).not.toBe(b[0]);
    expect(a[0].roots).toBe(b[0].roots);
    expect(Object.isFrozen(a[0].roots) && Object.isFrozen(a[0].roots[0])).toBe(true);
  });

  it('a change to one copy does not reach another', () => {
    const a = parseWorkspaces(claim);
    a[0].slug = 'changed';
    a.pop();
    expect(parseWorkspaces(claim)).toEqual([{ uuid: 'w1', slug: 'one', label: undefined, roots: [{ path: 'ds/a', uuid: 'r1' }] }]);
  });

  it('equal role lists are one frozen list', () => {
    const [a, b] = [identityFromClaims({ name: 'a', roles: ['r1', 'r2'] }), identityFromClaims({ name: 'b', roles: 'r1,r2' })];
    expect(a.roles).toBe(b.roles);
    expect(Object.isFrozen(a.roles)).toBe(true);
    expect(identityFromClaims({ name: 'c', roles: ['r2', 'r1'] }).roles).toEqual(['r2', 'r1']);
  });
});
