import { isRecord } from '../common/schema.js';
import type { Identity, Workspace, WorkspaceRoot } from './identity.js';
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
    // concat, not a spread: it makes an array of the exact size.
    subjects: ['*', `user:${user}`].concat(shared.get(`subjects\n${profile}\n${roles.join('\n')}`, () => Object.freeze([`profile:${profile}`, ...roles.map((r) => `role:${r}`)]))),
    iat: typeof claims.iat === 'number' ? claims.iat : undefined,
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
  };
}

/** Roles come as an array or as a comma-separated string. Shared between identities: never changed. */
function parseRoles(raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [];
  const roles = [...new Set(list.filter((r): r is string => typeof r === 'string').map((r) => r.trim()).filter(Boolean))];
  return roles.length ? shared.get(`roles\n${roles.join('\n')}`, () => Object.freeze(roles) as string[]) : NO_ROLES;
}

const NO_ROLES = Object.freeze([]) as unknown as string[];

/**
 * Parsed claim values that many sessions hold alike (the workspaces of a group or of one
 * user's tabs, role lists), kept once: an idle session's heap is mostly its identity.
 * Bounded, the least recently used going first. What it holds is frozen: it is shared.
 */
class SharedValues {
  private readonly values = new Map<string, unknown>();

  constructor(
    private readonly maxEntries: number,
    /** Longer keys (claims) are not kept: they would weigh more than they save. */
    private readonly maxKeyLength: number,
  ) {}

  get<T>(key: string, make: () => T): T {
    if (key.length > this.maxKeyLength) return make();
    let value = this.values.get(key) as T | undefined;
    if (value === undefined) value = make();
    else this.values.delete(key); // re-inserted below: the most recent last
    this.values.set(key, value);
    if (this.values.size > this.maxEntries) this.values.delete(this.values.keys().next().value!);
    return value;
  }
}

const shared = new SharedValues(2_000, 16_384);

const trimSlashes = (p: string): string => p.replace(/^\/+|\/+$/g, '');

/**
 * Workspaces of PROTOCOL 3.1 (an array, or that array as a JSON string). Entries that do not
 * fit are dropped rather than trusted: a malformed root must never widen what a session sees.
 * Every call returns new Workspace objects (they key a session's workspaces in the node
 * delivery), but what they hold (strings, frozen roots) is shared between equal claims.
 */
export function parseWorkspaces(raw: unknown): Workspace[] {
  const key = typeof raw === 'string' ? raw : Array.isArray(raw) ? JSON.stringify(raw) : undefined;
  const list = key === undefined ? readWorkspaces(raw) : shared.get(`workspaces\n${key}`, () => readWorkspaces(raw));
  return list.map((w) => ({ ...w }));
}

function readWorkspaces(raw: unknown): Workspace[] {
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
      roots: Object.freeze(
        roots
          .filter((r): r is { path: string; uuid?: unknown } => isRecord(r) && typeof r.path === 'string' && trimSlashes(r.path) !== '')
          .map((r) => Object.freeze({ path: trimSlashes(r.path), uuid: typeof r.uuid === 'string' ? r.uuid : undefined })),
      ) as WorkspaceRoot[],
    });
  }
  return out;
}
