import { isRecord } from '../common/schema.js';
import type { Identity, Workspace } from './identity.js';
import { AuthError } from './auth-error.js';

/** Claims of a verified token -> Identity (PROTOCOL 2). Pure. */
export function identityFromClaims(claims: Record<string, unknown>): Identity {
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const user = text(claims.name) ?? text(claims.preferred_username) ?? text(claims.sub);
  if (!user) throw new AuthError('token names no user');
  const profile = text(claims.profile) ?? 'standard';
  const roles = parseRoles(claims.roles);
  return {
    user,
    subject: text(claims.sub) ?? user,
    profile,
    roles,
    workspaces: parseWorkspaces(claims.workspaces ?? []),
    subjects: ['*', `user:${user}`, `profile:${profile}`, ...roles.map((r) => `role:${r}`)],
    iat: typeof claims.iat === 'number' ? claims.iat : undefined,
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
  };
}

/** Roles come as an array or as a comma-separated string. */
function parseRoles(raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [];
  return [...new Set(list.filter((r): r is string => typeof r === 'string').map((r) => r.trim()).filter(Boolean))];
}

const trimSlashes = (p: string): string => p.replace(/^\/+|\/+$/g, '');

/**
 * Workspaces of PROTOCOL 3.1 (an array, or that array as a JSON string). Entries that do not
 * fit are dropped rather than trusted: a malformed root must never widen what a session sees.
 */
export function parseWorkspaces(raw: unknown): Workspace[] {
  let list = raw;
  if (typeof raw === 'string') {
    try {
      list = JSON.parse(raw);
    } catch {
      throw new AuthError('workspaces claim is not JSON');
    }
  }
  if (!Array.isArray(list)) throw new AuthError('workspaces claim is not a list');
  const out: Workspace[] = [];
  for (const w of list) {
    if (!isRecord(w) || typeof w.uuid !== 'string' || !w.uuid) continue;
    const roots = Array.isArray(w.roots) ? w.roots : [];
    out.push({
      uuid: w.uuid,
      slug: typeof w.slug === 'string' && w.slug ? w.slug : w.uuid,
      label: typeof w.label === 'string' ? w.label : undefined,
      roots: roots
        .filter((r): r is { path: string; uuid?: unknown } => isRecord(r) && typeof r.path === 'string' && trimSlashes(r.path) !== '')
        .map((r) => ({ path: trimSlashes(r.path), uuid: typeof r.uuid === 'string' ? r.uuid : undefined })),
    });
  }
  return out;
}
