/** IDM change events (PROTOCOL.md 3.4): schema, audience and security side effects. Pure. */
import { checkWith } from '../common/schema.js';
import { IdmChangeEvent } from '../protocol/events.js';
import type { Audience } from './task-event.js';

export type { IdmChangeEvent } from '../protocol/events.js';

export type IdmSideEffect = { removeWorkspace: string } | { closeUser: { login?: string; subject?: string } } | null;

export function parseIdmEvent(raw: unknown): IdmChangeEvent {
  return checkWith(IdmChangeEvent, raw, 'event');
}

/** Role-scoped ACLs that change what a role may do; parameter/action ACLs only tune the UI. */
function isRoleAcl(acl: IdmChangeEvent['Acl']): boolean {
  if (!acl?.RoleID) return false;
  const name = acl.Action?.Name ?? '';
  return !name.startsWith('parameter:') && !name.startsWith('action:');
}

/** Which sessions to notify: the first matching rule of PROTOCOL.md 3.4 decides. */
function idmKeys(e: IdmChangeEvent): string[] {
  if (isRoleAcl(e.Acl)) return [`role:${e.Acl!.RoleID}`];
  if (e.Role) return e.Role.Uuid ? [`role:${e.Role.Uuid}`] : [];
  if (e.User?.Login) return [`user:${e.User.Login}`];
  if (e.User) return e.User.Uuid ? [`subject:${e.User.Uuid}`] : [];
  if (e.Workspace) return e.Workspace.UUID ? [`ws:${e.Workspace.UUID}`] : [];
  return [];
}

export function idmAudience(e: IdmChangeEvent): Audience {
  // '@type' first and always 'idm', whatever the publisher put there.
  const { ['@type']: _ignored, ...rest } = e;
  // A user's password (even hashed) never goes to a browser.
  if (rest.User && 'Password' in rest.User) {
    const { Password: _password, ...user } = rest.User;
    rest.User = user;
  }
  return { keys: idmKeys(e), frame: { '@type': 'idm', ...rest } };
}

/** Deletions act on live sessions at once instead of waiting for the client to re-subscribe. */
export function idmSideEffect(e: IdmChangeEvent): IdmSideEffect {
  if (e.Type !== 'DELETE') return null;
  if (e.Workspace?.UUID) return { removeWorkspace: e.Workspace.UUID };
  if (e.User && (e.User.Login || e.User.Uuid)) {
    const closeUser: { login?: string; subject?: string } = {};
    if (e.User.Login) closeUser.login = e.User.Login;
    if (e.User.Uuid) closeUser.subject = e.User.Uuid;
    return { closeUser };
  }
  return null;
}
