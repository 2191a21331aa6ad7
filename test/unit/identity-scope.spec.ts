import { describe, it, expect } from '@jest/globals';
import type { Identity, Workspace } from '../../src/auth/identity.js';
import { covers } from '../../src/sessions/identity-scope.js';

const ws = (uuid: string, slug: string, ...paths: string[]): Workspace => ({ uuid, slug, roots: paths.map((path) => ({ path })) });

function id(user: string, extra: Partial<Identity> = {}): Identity {
  const profile = extra.profile ?? 'standard';
  const roles = extra.roles ?? [];
  return { user, subject: `sub-${user}`, profile, roles, workspaces: [], subjects: ['*', `user:${user}`, `profile:${profile}`, ...roles.map((r) => `role:${r}`)], ...extra };
}

const before = id('alice', { roles: ['R1'], workspaces: [ws('w1', 'p', 'ds/p', 'ds/q'), ws('w2', 'm', 'ds/m')] });

describe('covers(next, previous): may a re-subscribe keep what was queued?', () => {
  it.each<[string, Identity, boolean]>([
    ['the same identity object', before, true],
    ['a fresh token, same rights', id('alice', { roles: ['R1'], workspaces: [ws('w2', 'm', 'ds/m'), ws('w1', 'p', 'ds/q', 'ds/p')] }), true],
    ['wider: one more workspace, role and root', id('alice', { roles: ['R1', 'R9'], workspaces: [ws('w1', 'p', 'ds/p', 'ds/q', 'ds/r'), ws('w2', 'm', 'ds/m'), ws('w3', 'x', 'ds/x')] }), true],
    ['a workspace fewer', id('alice', { roles: ['R1'], workspaces: [ws('w1', 'p', 'ds/p', 'ds/q')] }), false],
    ['a root fewer', id('alice', { roles: ['R1'], workspaces: [ws('w1', 'p', 'ds/p'), ws('w2', 'm', 'ds/m')] }), false],
    ['another slug (paths are rewritten with it)', id('alice', { roles: ['R1'], workspaces: [ws('w1', 'P2', 'ds/p', 'ds/q'), ws('w2', 'm', 'ds/m')] }), false],
    ['a role fewer', id('alice', { workspaces: [ws('w1', 'p', 'ds/p', 'ds/q'), ws('w2', 'm', 'ds/m')] }), false],
    ['another profile', id('alice', { profile: 'admin', roles: ['R1'], workspaces: [ws('w1', 'p', 'ds/p', 'ds/q'), ws('w2', 'm', 'ds/m')] }), false],
    ['another subject', { ...before, subject: 'other' }, false],
    ['another user, same rights', id('bob', { roles: ['R1'], workspaces: [ws('w1', 'p', 'ds/p', 'ds/q'), ws('w2', 'm', 'ds/m')] }), false],
  ])('%s: %s', (_name, next, expected) => {
    expect(covers(next, before)).toBe(expected);
  });
});
