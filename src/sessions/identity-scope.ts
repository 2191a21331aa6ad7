/** Whether an identity change may keep what was queued for the previous identity. Pure. */
import type { Identity, Workspace } from '../auth/identity.js';

/**
 * True when `next` may see everything `previous` could: the same user, subject and profile,
 * every role and policy subject, and every workspace with the same slug and at least the same roots. A token
 * refresh passes; a change of user or any lost right does not.
 */
export function covers(next: Identity, previous: Identity): boolean {
  if (next === previous) return true;
  if (next.user !== previous.user || next.subject !== previous.subject || next.profile !== previous.profile) return false;
  if (!previous.roles.every((r) => next.roles.includes(r))) return false;
  if (!previous.subjects.every((s) => next.subjects.includes(s))) return false;
  return previous.workspaces.every((w) => next.workspaces.some((n) => workspaceCovers(n, w)));
}

function workspaceCovers(next: Workspace, previous: Workspace): boolean {
  return (
    next.uuid === previous.uuid &&
    next.slug === previous.slug &&
    previous.roots.every((r) => next.roots.some((n) => n.path === r.path))
  );
}
