/**
 * Every frame of the Switchboard wire protocol (docs/protocol.md), as TypeScript types: the ONE
 * place the client, the React bindings and the demo take them from. They are the types of the
 * zod schemas the server validates with (src/protocol), imported as types only: the client has
 * no runtime dependency on zod and no hand-written copy of the protocol.
 */
import type * as events from '../../src/protocol/events.js';
import type * as frames from '../../src/protocol/frames.js';

/** 64-bit integers (Size, MTime, Timestamp) travel as JSON strings. */
export type Int64 = string;

// ---- section 2: subscribing (both endpoints) ----

export type SubscribeFrame = frames.SubscribeFrame;
export type UnsubscribeFrame = frames.UnsubscribeFrame;
export type SubscribedFrame = frames.SubscribedFrame;
/** Sent on `/ws` before the token expires: send `subscribe` again with a fresh token. */
export type ExpiringFrame = frames.ExpiringFrame;
export type ErrorFrame = frames.ErrorFrame;
/** The machine-readable reason of an error frame. */
export type ErrorCode = frames.ErrorCode;
/** PROTOCOL 6: after a subscribe with `resumeFrom`. */
export type ResumedFrame = frames.ResumedFrame;

// ---- section 3: events on /ws ----

export type NodeEventType = frames.NodeEventType;
/** A node as seen from one workspace (MetaStore values are JSON strings: `EventWorkspaceId` is `"\"w1\""`). */
export type TreeNode = frames.FrameNode;
/** Fields every event frame may carry: its position in the shared history (PROTOCOL 6). */
export interface Positioned {
  '@offset'?: string;
}
export type NodeEvent = frames.NodeEventFrame;
export type TaskEvent = frames.TaskEventFrame;
export type IdmEvent = frames.IdmEventFrame;
export type ActivityObject = frames.ActivityObjectFrame;
export type ActivityEvent = frames.ActivityEventFrame;

// ---- section 5: generic push ----

export type RoomCommand = frames.JoinRoomFrame | frames.LeaveRoomFrame;
export type RoomAnswer = frames.RoomAnswer;
/** A push command's `payload`, delivered as-is: any JSON value. */
export type PushPayload = frames.PushPayload;
/** What a backend sends on `switchboard.push` (or through POST /api/publish). */
export type PushCommand = events.PushCommand;

// ---- section 4: chat on /chat ----

export type RoomType = events.RoomType;
/** What identifies a room: the server finds (or creates) it by Type and RoomTypeObject. */
export type RoomRef = frames.RoomRef;
/** A room as frames carry it, with the logins present in it on every instance. */
export type ChatRoom = events.ChatRoom;
export type ChatMessage = events.ChatMessage;
export type ChatClientFrame = frames.ChatJoinFrame | frames.ChatLeaveFrame | frames.ChatHistoryFrame | frames.ChatPostFrame | frames.ChatDeleteMsgFrame;
export type RoomUpdateFrame = frames.ChatRoomUpdateFrame;
export type MayHaveMoreFrame = frames.ChatMayHaveMoreFrame;
export type DeleteMessageFrame = frames.ChatMessageDeletedFrame;

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
