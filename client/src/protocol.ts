/**
 * Every frame of the Switchboard wire protocol (docs/protocol.md), as TypeScript types: the ONE
 * place the client, the React bindings and the demo take them from. They are the types of the
 * zod schemas the server validates with (src/protocol), flattened into ./wire.ts by
 * scripts/gen-wire.mjs (checked by test/unit/client-wire.spec.ts): the package ships no import
 * outside itself, no zod, and no hand-written copy of the protocol.
 */
import type * as wire from './wire.js';
export { CloseCode } from './wire.js';

/** 64-bit integers (Size, MTime, Timestamp) travel as JSON strings. */
export type Int64 = string;

// ---- section 2: subscribing (both endpoints) ----

export type SubscribeFrame = wire.SubscribeFrame;
export type UnsubscribeFrame = wire.UnsubscribeFrame;
export type SubscribedFrame = wire.SubscribedFrame;
/** Sent on `/ws` before the token expires: send `subscribe` again with a fresh token. */
export type ExpiringFrame = wire.ExpiringFrame;
/** ext: sent every `pingIntervalMs` of the ack after a subscribe with `heartbeat: true`. */
export type PingFrame = wire.PingFrame;
export type ErrorFrame = wire.ErrorFrame;
/** The machine-readable reason of an error frame. */
export type ErrorCode = wire.ErrorCode;
/** PROTOCOL 6: after a subscribe with `resumeFrom`. */
export type ResumedFrame = wire.ResumedFrame;

// ---- section 3: events on /ws ----

export type NodeEventType = wire.NodeEventType;
/** A node as seen from one workspace (MetaStore values are JSON strings: `EventWorkspaceId` is `"\"w1\""`). */
export type TreeNode = wire.FrameNode;
/** Fields every event frame may carry: its position in the shared history (PROTOCOL 6). */
export interface Positioned {
  '@offset'?: string;
}
export type NodeEvent = wire.NodeEventFrame;
export type TaskEvent = wire.TaskEventFrame;
export type IdmEvent = wire.IdmEventFrame;
export type ActivityObject = wire.ActivityObjectFrame;
export type ActivityEvent = wire.ActivityEventFrame;

// ---- section 5: generic push ----

export type RoomCommand = wire.JoinRoomFrame | wire.LeaveRoomFrame;
export type RoomAnswer = wire.RoomAnswer;
/** A push command's `payload`, delivered as-is: any JSON value. */
export type PushPayload = wire.PushPayload;
/** What a backend sends on `switchboard.push` (or through POST /api/publish). */
export type PushCommand = wire.PushCommand;

// ---- section 9: calls over the socket ----

/** The client's name for one call: a string of 1 to 64 characters or a non-negative integer. */
export type CallId = wire.CallId;
export type CallFrame = wire.CallFrame;
/** The backend's answer (2xx, JSON; null for an empty body). */
export type CallResultFrame = wire.CallResultFrame;
/** A call that got no result: `code`, and the backend's `status` and JSON `data` when it answered. */
export type CallErrorFrame = wire.CallErrorFrame;

// ---- section 4: chat on /chat ----

export type RoomType = wire.RoomType;
/** What identifies a room: the server finds (or creates) it by Type and RoomTypeObject. */
export type RoomRef = wire.RoomRef;
/** A room as frames carry it, with the logins present in it on every instance. */
export type ChatRoom = wire.ChatRoom;
export type ChatMessage = wire.ChatMessage;
export type ChatClientFrame = wire.ChatJoinFrame | wire.ChatLeaveFrame | wire.ChatHistoryFrame | wire.ChatPostFrame | wire.ChatDeleteMsgFrame;
export type RoomUpdateFrame = wire.RoomUpdateFrame;
export type MayHaveMoreFrame = wire.MayHaveMoreFrame;
export type DeleteMessageFrame = wire.DeleteMessageFrame;
/** ext: the answer to a POST or DELETE_MSG with a client `id` (a refusal is an ErrorFrame with the id). */
export type ChatAckFrame = wire.ChatAckFrame;


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
