/** Who may join a chat room (PROTOCOL.md 4). Pure: the NODE answer is fetched beforehand. */
import type { Identity } from '../auth/identity.js';
import type { RoomType } from './chat-types.js';

export interface NodePermission {
  read: boolean;
  write: boolean;
}

export interface RoomAccess {
  allowed: boolean;
  /** Allowed to read, join and see history, but not to post. */
  readOnly: boolean;
  /** Why access was refused (or is read-only); short, safe to send to the client. */
  reason?: string;
}

const allow: RoomAccess = { allowed: true, readOnly: false };
const deny = (reason: string): RoomAccess => ({ allowed: false, readOnly: false, reason });

/**
 * Decides access for every room type (**fix:** Cells checked only NODE rooms).
 * `node` is the answer of the node authorization endpoint, undefined when there is none.
 */
export function roomAccess(
  room: { Type: RoomType; RoomTypeObject: string },
  identity: Identity,
  node?: NodePermission,
): RoomAccess {
  switch (room.Type) {
    case 'GLOBAL':
      return allow;
    case 'WORKSPACE':
      return identity.workspaces.some((w) => w.uuid === room.RoomTypeObject)
        ? allow
        : deny('workspace not in session');
    case 'USER':
      // Exact element match: user "bob" must not get into a room of "bobby,alice".
      return roomUsers(room.RoomTypeObject).includes(identity.user) ? allow : deny('user not named in room');
    case 'NODE':
      if (!node) return deny('node authorization unavailable');
      if (!node.read) return deny('node not readable');
      return node.write ? allow : { allowed: true, readOnly: true, reason: 'node is read-only' };
    default:
      return deny(`unknown room type ${room.Type}`);
  }
}

/** The logins named by a USER room: a single login or a comma-separated list. */
export function roomUsers(roomTypeObject: string): string[] {
  return roomTypeObject
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
