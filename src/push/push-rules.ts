/**
 * Generic push (PROTOCOL 5): the commands backends publish, who they reach, and which
 * rooms a client may join. Pure functions; PushService wires them to sessions.
 */
import { requireRecord, SchemaError, type Json } from '../common/schema.js';

/** Deliver `payload` as-is to the sessions of a user, of a room, or to one session. */
export interface PushDelivery {
  kind: 'push';
  user?: string;
  room?: string;
  /** Alone: that session only. With user or room: a filter (the session must match them too). */
  session?: string;
  payload: unknown;
}

/** The backend puts a user's sessions in a room, or takes them out (pakyow's `socket.subscribe`). */
export interface PushSubscription {
  kind: 'subscribe' | 'unsubscribe';
  user: string;
  room: string;
  /** Only that session of the user. */
  session?: string;
}

export type PushCommand = PushDelivery | PushSubscription;

export type Admission = { ok: true; room: string } | { ok: false; reason: string };

export const MAX_ROOM_LENGTH = 200;

const DELIVERY_FIELDS = ['pushToUser', 'pushToRoom', 'payload'];

/** Throws SchemaError, with a reason that never quotes the payload. */
export function parsePushCommand(raw: unknown): PushCommand {
  const cmd = requireRecord(raw, 'push command');
  const session = sessionFilter(cmd);
  const subscribe = target(cmd, 'subscribeUser');
  const unsubscribe = target(cmd, 'unsubscribeUser');

  if (subscribe !== undefined || unsubscribe !== undefined) {
    if (subscribe !== undefined && unsubscribe !== undefined) throw new SchemaError('push command has both subscribeUser and unsubscribeUser');
    if (DELIVERY_FIELDS.some((k) => cmd[k] !== undefined)) throw new SchemaError('push command mixes subscribeUser/unsubscribeUser with delivery fields');
    return { kind: subscribe !== undefined ? 'subscribe' : 'unsubscribe', user: (subscribe ?? unsubscribe)!, room: requiredRoom(cmd), session };
  }

  const user = target(cmd, 'pushToUser');
  const room = target(cmd, 'pushToRoom');
  if (room !== undefined) checkRoomName(room, 'push command.pushToRoom');
  // websocket-push documents one destination per message; refusing both is louder than guessing.
  if (user !== undefined && room !== undefined) throw new SchemaError('push command has both pushToUser and pushToRoom: give one destination');
  if (user === undefined && room === undefined && session === undefined) {
    throw new SchemaError('push command needs pushToUser, pushToRoom or pushToSession (or subscribeUser/unsubscribeUser)');
  }
  if (cmd.payload === undefined) throw new SchemaError('push command needs a payload');
  return { kind: 'push', user, room, session, payload: cmd.payload };
}

/** Registry keys whose sessions a command reaches, plus the optional single-session filter. */
export function pushTargets(cmd: PushCommand): { keys: string[]; session?: string } {
  if (cmd.kind !== 'push') return { keys: [`user:${cmd.user}`], session: cmd.session };
  const keys = cmd.user !== undefined ? [`user:${cmd.user}`] : cmd.room !== undefined ? [`room:${cmd.room}`] : [];
  return { keys, session: cmd.session };
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

/** Why `room` is not an acceptable room name, or undefined when it is. */
export function roomNameProblem(room: unknown): string | undefined {
  if (typeof room !== 'string') return 'room must be a string';
  if (room.length < 1 || room.length > MAX_ROOM_LENGTH) return `room name must be 1 to ${MAX_ROOM_LENGTH} characters`;
  if (/\p{Cc}/u.test(room)) return 'room name has control characters';
  return undefined;
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

/**
 * A target field. null and '' count as absent, as in websocket-push (which tests truthiness):
 * a publisher that forwards an empty tabWindowId still reaches every tab.
 */
function target(cmd: Json, key: string): string | undefined {
  const v = cmd[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new SchemaError(`push command.${key} must be a string`);
  return v;
}

function sessionFilter(cmd: Json): string | undefined {
  const session = target(cmd, 'pushToSession');
  const tab = target(cmd, 'tabWindowId');
  if (session !== undefined && tab !== undefined && session !== tab) throw new SchemaError('push command has different pushToSession and tabWindowId');
  return session ?? tab;
}

function requiredRoom(cmd: Json): string {
  const room = target(cmd, 'room');
  if (room === undefined) throw new SchemaError('push command.room is required with subscribeUser/unsubscribeUser');
  return checkRoomName(room, 'push command.room');
}

function checkRoomName(room: string, what: string): string {
  const bad = roomNameProblem(room);
  if (bad) throw new SchemaError(`${what}: ${bad}`);
  return room;
}
