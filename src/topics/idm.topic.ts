/** The IDM topic (PROTOCOL.md 3.4): audience and security side effects (pure), and handler; the schema is in src/protocol/events.ts. */
import { Injectable } from '@nestjs/common';
import { Revocations } from '../auth/revocations.js';
import { checkWith } from '../common/schema.js';
import { Topic, type Routing, type TopicHandler } from '../delivery/topic.js';
import { CloseCode } from '../protocol/close-codes.js';
import { IdmChangeEvent } from '../protocol/events.js';
import { ChatSessions, EventSessions } from '../sessions/endpoints.js';

export type { IdmChangeEvent } from '../protocol/events.js';

export type IdmSideEffect = { removeWorkspace: string } | { closeUser: { login?: string; subject?: string } };

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

export function idmAudience(e: IdmChangeEvent): { keys: string[]; frame: Record<string, unknown> } {
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
export function idmSideEffect(e: IdmChangeEvent): IdmSideEffect | null {
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

/** Users, roles, workspaces and ACLs changed: tell who is concerned, and act on deletions (live only). */
@Topic({ channel: 'idm' })
@Injectable()
export class IdmTopic implements TopicHandler<IdmChangeEvent, IdmSideEffect> {
  readonly topic = 'idm';

  constructor(
    private readonly revocations: Revocations,
    private readonly events: EventSessions,
    private readonly chat: ChatSessions,
  ) {}

  parse(raw: unknown): IdmChangeEvent {
    return parseIdmEvent(raw);
  }

  route(e: IdmChangeEvent): Routing {
    const effect = idmSideEffect(e);
    return { ...idmAudience(e), effects: effect ? [effect] : undefined };
  }

  /** After the idm frame has been handed over, so that the session sees why; on both endpoints. */
  apply(effect: IdmSideEffect): void {
    const hosts = [this.events, this.chat];
    if ('removeWorkspace' in effect) {
      for (const host of hosts) host.registry.removeWorkspace(effect.removeWorkspace);
      return;
    }
    const { login, subject } = effect.closeUser;
    // Before the sockets close: the client reconnects at once, to any instance.
    this.revocations.revoke(effect.closeUser);
    const keys = [login && `user:${login}`, subject && `subject:${subject}`].filter((k): k is string => Boolean(k));
    for (const host of hosts) for (const s of [...host.registry.withKeys(keys)]) host.close(s, CloseCode.forbidden, 'user removed');
  }
}
