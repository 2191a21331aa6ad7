/**
 * Generic push (PROTOCOL 5): the commands backends publish, who they reach, and which
 * rooms a client may join. Pure functions; PushService wires them to sessions.
 */
import { parseWith } from '../common/schema.js';
import { MAX_ROOM_LENGTH, PushCommand as PushCommandSchema, roomNameProblem, type ParsedPushCommand } from '../protocol/events.js';

export type { PushDelivery, PushSubscription } from '../protocol/events.js';
export type PushCommand = ParsedPushCommand;

export type Admission = { ok: true; room: string } | { ok: false; reason: string };

export { MAX_ROOM_LENGTH, roomNameProblem };

/** Throws SchemaError, with a reason that never quotes the payload. */
export function parsePushCommand(raw: unknown): PushCommand {
  return parseWith(PushCommandSchema, raw, 'push command');
}

/** `<sessionId>.<tab>`: one tab of a connection that several tabs share (PROTOCOL 5.1). Session ids are UUIDs: no dot. */
const TAB_TARGET = /^([^.]+)\.([\w-]{1,32})$/;

/**
 * Registry keys whose sessions a command reaches, plus the optional single-session filter and,
 * when that filter names a tab of a shared connection, the tab (its frame carries `"@tab"`).
 */
export function pushTargets(cmd: PushCommand): { keys: string[]; session?: string; tab?: string } {
  const tab = cmd.session === undefined ? null : TAB_TARGET.exec(cmd.session);
  const session = tab ? { session: tab[1], ...(cmd.kind === 'push' ? { tab: tab[2] } : {}) } : { session: cmd.session };
  if (cmd.kind !== 'push') return { keys: [`user:${cmd.user}`], ...session };
  const keys = cmd.user !== undefined ? [`user:${cmd.user}`] : cmd.room !== undefined ? [`room:${cmd.room}`] : [];
  return { keys, ...session };
}

/**
 * May this identity join `room` on its own request? `user:<login>` and `workspace:<uuid>[/...]`
 * are decided by their owner only (an open pattern never admits them); any other name must
 * match one of the `openRooms` globs.
 */
export function admitRoom(room: unknown, identity: { user: string; workspaces: { uuid: string }[] } | undefined, openRooms: string[]): Admission {
  const bad = roomNameProblem(room);
  if (bad) return { ok: false, reason: bad };
  const name = room as string;
  if (!identity) return { ok: false, reason: 'not subscribed' };
  if (name.startsWith('user:')) {
    return name.slice('user:'.length) === identity.user ? { ok: true, room: name } : { ok: false, reason: 'room of another user' };
  }
  if (name.startsWith('workspace:')) {
    const uuid = name.slice('workspace:'.length).split('/', 1)[0];
    return identity.workspaces.some((w) => w.uuid === uuid) ? { ok: true, room: name } : { ok: false, reason: 'workspace not held' };
  }
  return openRooms.some((glob) => globRegExp(glob).test(name)) ? { ok: true, room: name } : { ok: false, reason: 'room not open' };
}

const globs = new Map<string, RegExp>();

/** `*` any run of characters (`/` included, possibly none), `?` exactly one, the rest literal; anchored. */
export function globRegExp(glob: string): RegExp {
  let re = globs.get(glob);
  if (!re) {
    const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
    globs.set(glob, (re = new RegExp(`^${body}$`, 'su')));
  }
  return re;
}
