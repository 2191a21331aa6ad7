/**
 * Every frame of the Switchboard wire protocol (docs/protocol.md), as TypeScript types: the ONE
 * place the client, the React bindings and the demo take them from.
 *
 * To be generated from / replaced by the server's schemas: the server validates frames with
 * hand-written checks today (src/common/schema.ts and the topic parsers); when the planned
 * restructure introduces zod schemas, this file becomes `z.infer<>` re-exports of them and no
 * hand-written copy remains. Until then, do not copy these types anywhere else.
 */

/** 64-bit integers (Size, MTime, Timestamp) travel as JSON strings. */
export type Int64 = string;

// ---- section 2: subscribing (both endpoints) ----

export interface SubscribeFrame {
  '@type': 'subscribe';
  jwt: string;
  /** PROTOCOL 6: the last `@offset` seen, to replay what was missed. */
  resumeFrom?: string;
}
export interface UnsubscribeFrame {
  '@type': 'unsubscribe';
}
export interface SubscribedFrame {
  '@type': 'subscribed';
  sessionId: string;
  user: string;
  workspaces: string[];
  /** Unix seconds; absent for a token without `exp`. */
  expiresAt?: number;
}
/** Sent on `/ws` before the token expires: send `subscribe` again with a fresh token. */
export interface ExpiringFrame {
  '@type': 'expiring';
  expiresAt: number;
}
export interface ErrorFrame {
  '@type': 'error';
  error: string;
  Room?: ChatRoom;
}
/** PROTOCOL 6: after a subscribe with `resumeFrom`. */
export interface ResumedFrame {
  '@type': 'resumed';
  recovered: boolean;
  replayed?: number;
}

// ---- section 3: events on /ws ----

export type NodeEventType = 'CREATE' | 'READ' | 'UPDATE_PATH' | 'UPDATE_CONTENT' | 'UPDATE_META' | 'UPDATE_USER_META' | 'DELETE';

export interface TreeNode {
  Uuid?: string;
  Path?: string;
  Type?: 'LEAF' | 'COLLECTION' | 'UNKNOWN';
  Size?: Int64;
  MTime?: Int64;
  Etag?: string;
  /** Values are JSON strings: `EventWorkspaceId` is `"\"w1\""`. */
  MetaStore?: Record<string, string>;
}

/** Fields every event frame may carry: its position in the shared history (PROTOCOL 6). */
export interface Positioned {
  '@offset'?: string;
}

export interface NodeEvent extends Positioned {
  Type?: NodeEventType;
  Source?: TreeNode;
  Target?: TreeNode;
  Silent?: boolean;
  Optimistic?: boolean;
}

export interface TaskEvent extends Positioned {
  TaskUpdated: {
    JobID?: string;
    ID?: string;
    TriggerOwner?: string;
    Status?: string;
    StatusMessage?: string;
    Progress?: number;
    [k: string]: unknown;
  };
  Job?: { ID?: string; Label?: string; Owner?: string; [k: string]: unknown };
}

export interface IdmEvent extends Positioned {
  '@type': 'idm';
  Type?: string;
  User?: { Uuid?: string; Login?: string; [k: string]: unknown };
  Role?: { Uuid?: string; [k: string]: unknown };
  Workspace?: { UUID?: string; Slug?: string; [k: string]: unknown };
  Acl?: { RoleID?: string; Action?: { Name?: string; Value?: string }; [k: string]: unknown };
}

export interface ActivityObject {
  type?: string;
  id?: string;
  name?: string;
  [k: string]: unknown;
}
export interface ActivityEvent extends Positioned {
  '@type': 'activity';
  OwnerType?: string;
  OwnerId?: string;
  BoxName?: string;
  Activity: {
    type?: string;
    id?: string;
    summary?: string;
    updated?: string;
    actor?: ActivityObject;
    object?: ActivityObject;
    origin?: ActivityObject;
    target?: ActivityObject;
    [k: string]: unknown;
  };
}

// ---- section 5: generic push ----

export interface RoomCommand {
  '@type': 'joinRoom' | 'leaveRoom';
  room: string;
}
export interface RoomAnswer {
  '@type': 'room';
  room: string | null;
  joined: boolean;
  left?: boolean;
  reason?: string;
}
/** A push command's `payload`, delivered as-is: any JSON value. */
export type PushPayload = unknown;

/** What a backend sends on `switchboard.push` (or through POST /api/publish). */
export interface PushCommand {
  pushToUser?: string;
  pushToRoom?: string;
  pushToSession?: string;
  tabWindowId?: string;
  subscribeUser?: string;
  unsubscribeUser?: string;
  room?: string;
  payload?: unknown;
}

// ---- section 4: chat on /chat ----

export type RoomType = 'GLOBAL' | 'WORKSPACE' | 'USER' | 'NODE' | 'ANY';

/** What identifies a room: the server finds (or creates) it by these two fields. */
export interface RoomRef {
  Type: RoomType;
  RoomTypeObject: string;
  RoomLabel?: string;
}
export interface ChatRoom extends RoomRef {
  Uuid: string;
  /** Logins present in the room, on every instance. */
  Users?: string[];
  LastUpdated?: number;
}
export interface ChatMessage {
  Uuid: string;
  RoomUuid: string;
  Message: string;
  Author: string;
  Timestamp: Int64;
}

export type ChatClientFrame =
  | { '@type': 'JOIN'; Room: RoomRef; Message?: { Message: 'PING' } }
  | { '@type': 'LEAVE'; Room: RoomRef }
  | { '@type': 'HISTORY'; Room: RoomRef; Message: { Message: string } }
  | { '@type': 'POST'; Message: { RoomUuid: string; Message: string } }
  | { '@type': 'DELETE_MSG'; Message: { Uuid: string; RoomUuid: string } };

export interface RoomUpdateFrame {
  '@type': 'ROOM_UPDATE';
  Room: ChatRoom;
}
export interface MayHaveMoreFrame {
  '@type': 'MAY_HAVE_MORE';
  RoomUuid: string;
  Timestamp: Int64;
  Offset: number;
  Limit: number;
}
export interface DeleteMessageFrame {
  '@type': 'DELETE_MSG';
  Message: Partial<ChatMessage> & { Uuid: string; RoomUuid?: string };
}

// ---- section 7: close codes ----

export const CloseCode = {
  shuttingDown: 1001,
  tooLarge: 1009,
  unauthenticated: 4401,
  forbidden: 4403,
  slowConsumer: 4008,
  tooManyFrames: 4429,
} as const;

// ---- helpers that read the frames above ----

/** The workspace uuid a node frame was delivered for (`MetaStore.EventWorkspaceId`, a JSON string). */
export function nodeWorkspace(event: NodeEvent): string | undefined {
  const raw = event.Target?.MetaStore?.EventWorkspaceId ?? event.Source?.MetaStore?.EventWorkspaceId;
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a `/ws` frame is, for dispatch: control frames, the four event kinds, or a push payload. */
export type EventsFrame =
  | { kind: 'subscribed'; frame: SubscribedFrame }
  | { kind: 'expiring'; frame: ExpiringFrame }
  | { kind: 'error'; frame: ErrorFrame }
  | { kind: 'resumed'; frame: ResumedFrame }
  | { kind: 'room'; frame: RoomAnswer }
  | { kind: 'node'; frame: NodeEvent }
  | { kind: 'task'; frame: TaskEvent }
  | { kind: 'idm'; frame: IdmEvent }
  | { kind: 'activity'; frame: ActivityEvent }
  | { kind: 'push'; frame: PushPayload };

/** Classifies a parsed `/ws` frame. Anything that is not a known frame is a push payload (PROTOCOL 5: delivered as-is). */
export function classifyEventsFrame(frame: unknown): EventsFrame {
  if (!isObject(frame)) return { kind: 'push', frame };
  switch (frame['@type']) {
    case 'subscribed':
      return { kind: 'subscribed', frame: frame as unknown as SubscribedFrame };
    case 'expiring':
      return { kind: 'expiring', frame: frame as unknown as ExpiringFrame };
    case 'error':
      return { kind: 'error', frame: frame as unknown as ErrorFrame };
    case 'resumed':
      return { kind: 'resumed', frame: frame as unknown as ResumedFrame };
    case 'room':
      return { kind: 'room', frame: frame as unknown as RoomAnswer };
    case 'idm':
      return { kind: 'idm', frame: frame as unknown as IdmEvent };
    case 'activity':
      if (isObject(frame.Activity)) return { kind: 'activity', frame: frame as unknown as ActivityEvent };
      break;
    case undefined:
      if (isObject(frame.TaskUpdated)) return { kind: 'task', frame: frame as unknown as TaskEvent };
      if (isObject(frame.Target) || isObject(frame.Source)) return { kind: 'node', frame: frame as unknown as NodeEvent };
  }
  return { kind: 'push', frame };
}
