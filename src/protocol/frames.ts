/**
 * The frames of `/ws` and `/chat` (docs/protocol.md 2 to 7), as zod schemas: what a client
 * sends (parsed by the service where it reads more than `@type`) and what the service sends
 * (described, for docs/asyncapi.yaml and the client's types; the service builds them itself).
 * Pure: zod only, no Nest, no Node API. Conventions and error texts: see ./events.ts.
 */
import * as z from 'zod';
import {
  ChatMessageFrame,
  ChatRoomFrame,
  DELETE_DETAILS,
  IdmChangeEvent,
  BusString,
  PostActivityEvent,
  ROOM_TYPES,
  RoomType,
  TaskChangeEvent,
} from './events.js';

/** **ext** (PROTOCOL 6): an event's position in the shared history, `<stream id>@<epoch>`. Opaque. */
export const Offset = z.string();
/** The `@offset` every event frame may carry. */
const positioned = { '@offset': Offset.optional() };

// ------------------------------------------------------------------ client frames, both endpoints (PROTOCOL 2)

export const SubscribeFrame = z.object({
  '@type': z.literal('subscribe'),
  jwt: z.string(),
  /** PROTOCOL 6: the last `@offset` seen, to replay what was missed (`/ws` only). */
  resumeFrom: Offset.optional(),
  /**
   * **ext** (PROTOCOL 2.1): true asks for visible liveness: the ack states `pingIntervalMs` and the
   * server sends `{"@type":"ping"}` that often. Absent (Cells clients): nothing changes.
   */
  heartbeat: z.boolean().optional(),
});
export type SubscribeFrame = z.infer<typeof SubscribeFrame>;

export const UnsubscribeFrame = z.object({ '@type': z.literal('unsubscribe') });
export type UnsubscribeFrame = z.infer<typeof UnsubscribeFrame>;

// ------------------------------------------------------------------ client frames, /ws rooms (PROTOCOL 5)

/** The room is `room`, or `joinRoom` when `room` is absent. */
export const JoinRoomFrame = z.object({ '@type': z.literal('joinRoom'), room: z.string().optional(), joinRoom: z.string().optional() });
export type JoinRoomFrame = z.infer<typeof JoinRoomFrame>;
/** The room is `room`, or `leaveRoom` when `room` is absent. */
export const LeaveRoomFrame = z.object({ '@type': z.literal('leaveRoom'), room: z.string().optional(), leaveRoom: z.string().optional() });
export type LeaveRoomFrame = z.infer<typeof LeaveRoomFrame>;
/** websocket-push's form, with no `@type`. */
export const JoinRoomShortFrame = z.object({ joinRoom: z.string() });
export type JoinRoomShortFrame = z.infer<typeof JoinRoomShortFrame>;
export const LeaveRoomShortFrame = z.object({ leaveRoom: z.string() });
export type LeaveRoomShortFrame = z.infer<typeof LeaveRoomShortFrame>;

// ------------------------------------------------------------------ client frames, /ws calls (PROTOCOL 9)

/** The client's name for one call, echoed in its answer: a string or a non-negative integer. */
export const CallId = z.union([
  z.string().min(1, '{} must not be empty').max(64, '{} is longer than 64 characters'),
  z.int().min(0).max(Number.MAX_SAFE_INTEGER),
], { error: '{} must be a string or a non-negative integer' });
export type CallId = z.infer<typeof CallId>;

/** Asks the backend of `method` (CALL_ROUTES); `params` is forwarded as is (absent: null). */
export const CallFrame = z.object({
  '@type': z.literal('call'),
  id: CallId,
  method: z.string({ error: '{} must be a string' }).max(64, '{} is longer than 64 characters'),
  params: z.unknown().optional(),
});
export type CallFrame = z.infer<typeof CallFrame>;

// ------------------------------------------------------------------ client frames, /chat (PROTOCOL 4)

/** Room keys end up in Redis keys and frames: keep them bounded. */
export const MAX_ROOM_OBJECT_LENGTH = 1024;
/** Stored with the room and sent in every ROOM_UPDATE. */
export const MAX_ROOM_LABEL_LENGTH = 256;
export const DEFAULT_HISTORY_LIMIT = 40;
export const MAX_HISTORY_LIMIT = 200;

/**
 * How a client names a room in JOIN, LEAVE and HISTORY: by Type and RoomTypeObject (required
 * unless GLOBAL); RoomLabel names a room that JOIN creates. Other fields (Uuid...) are dropped.
 */
export const RoomRef = z
  .object(
    {
      Type: RoomType,
      RoomTypeObject: BusString.pipe(z.string().max(MAX_ROOM_OBJECT_LENGTH, `{} is longer than ${MAX_ROOM_OBJECT_LENGTH} characters`)).nullish(),
      RoomLabel: BusString.pipe(z.string().max(MAX_ROOM_LABEL_LENGTH, `{} is longer than ${MAX_ROOM_LABEL_LENGTH} characters`)).nullish(),
    },
    { error: '{} must be an object' },
  )
  .refine((r) => r.Type === 'GLOBAL' || !!r.RoomTypeObject, {
    path: ['RoomTypeObject'],
    error: (iss) => `{} is required for a ${(iss.input as { Type: string }).Type} room`,
  })
  .transform(({ Type, RoomTypeObject, RoomLabel }) => ({ Type, RoomTypeObject: RoomTypeObject ?? '', ...(RoomLabel != null && { RoomLabel }) }));
export type RoomRef = z.output<typeof RoomRef>;

/** A non-negative integer; a numeric string is accepted (64-bit integers travel as strings). */
const Count = z.union([z.number(), z.string()], { error: '{} must be an integer' }).transform((value, ctx) => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) ctx.addIssue({ code: 'custom', message: '{} must be an integer', input: value });
  else if (n < 0) ctx.addIssue({ code: 'custom', message: '{} must not be negative', input: value });
  return n as number;
});

/** The text of a HISTORY frame's Message, once JSON-decoded: which page, newest first. */
export const HistoryRequest = z
  .object({ Offset: Count.nullish(), Limit: Count.nullish() }, { error: '{} must be a JSON object' })
  .transform(({ Offset, Limit }) => ({ Offset: Offset ?? 0, Limit: Math.min(Limit ?? DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT) }));
export type HistoryRequest = z.output<typeof HistoryRequest>;

/** `@type` is case-insensitive on `/chat`: Cells sends `JOIN`, the React UI `join`. */
const chatType = (...names: string[]) => z.string().regex(new RegExp(`^(${names.join('|')})$`, 'i'));

/** JOIN; with `Message: {Message: "PING"}` a presence heartbeat that never creates the room. */
export const ChatJoinFrame = z.object({
  '@type': chatType('JOIN'),
  Room: RoomRef,
  Message: z.looseObject({ Message: z.string().nullish() }).nullish(),
});
export type ChatJoinFrame = z.input<typeof ChatJoinFrame>;
export const ChatLeaveFrame = z.object({ '@type': chatType('LEAVE'), Room: RoomRef });
export type ChatLeaveFrame = z.input<typeof ChatLeaveFrame>;
/** HISTORY: `Message.Message` is a HistoryRequest as JSON text (missing: the defaults). */
export const ChatHistoryFrame = z.object({
  '@type': chatType('HISTORY'),
  Room: RoomRef,
  Message: z.looseObject({ Message: z.string().nullish() }).nullish(),
});
export type ChatHistoryFrame = z.input<typeof ChatHistoryFrame>;
/** Longest client `id` of a POST or DELETE_MSG (PROTOCOL 4.3). */
export const MAX_CLIENT_ID_LENGTH = 64;
/**
 * **ext**: the client's id of a POST or DELETE_MSG. With one, the server answers exactly once:
 * an `ack` frame, or the error frame carrying the same `id`. Without one, nothing changes (Cells).
 */
const CLIENT_ID_TEXT = `{} must be a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters`;
export const ClientId = z.string(CLIENT_ID_TEXT).min(1, CLIENT_ID_TEXT).max(MAX_CLIENT_ID_LENGTH, CLIENT_ID_TEXT);

/** POST (alias `msg`): the text is sanitized, stored and published to the room. */
export const ChatPostFrame = z.object({
  '@type': chatType('POST', 'MSG'),
  id: ClientId.optional(),
  Message: z.looseObject({ RoomUuid: BusString, Message: BusString }, '{} must be an object'),
});
export type ChatPostFrame = z.input<typeof ChatPostFrame>;
/** DELETE_MSG: only the stored message's author may. */
export const ChatDeleteMsgFrame = z.object({
  '@type': chatType(DELETE_DETAILS),
  id: ClientId.optional(),
  Message: z.looseObject({ Uuid: BusString, RoomUuid: BusString }, '{} must be an object'),
});
export type ChatDeleteMsgFrame = z.input<typeof ChatDeleteMsgFrame>;

// ------------------------------------------------------------------ server frames, both endpoints

export const SubscribedFrame = z.object({
  '@type': z.literal('subscribed'),
  sessionId: z.string(),
  user: z.string(),
  /** Uuids of the workspaces the session can see. */
  workspaces: z.array(z.string()),
  /** Unix seconds; absent for a token without `exp`. */
  expiresAt: z.int().optional(),
  /** **ext**: only after a subscribe with `heartbeat: true`: a `ping` frame comes this often (ms). */
  pingIntervalMs: z.int().min(1).optional(),
  /**
   * **ext** (PROTOCOL 6), `/ws` without `resumeFrom`: the history's position as the session went
   * live; a client that loses the connection before its first event resumes from it.
   */
  '@offset': z.string().optional(),
});
export type SubscribedFrame = z.infer<typeof SubscribedFrame>;

/** **ext** (PROTOCOL 2.1): sent every `pingIntervalMs` to a session that asked for `heartbeat`. Needs no answer. */
export const PingFrame = z.object({ '@type': z.literal('ping') });
export type PingFrame = z.infer<typeof PingFrame>;

/** Sent on `/ws` before the token expires: send `subscribe` again with a fresh token. */
export const ExpiringFrame = z.object({ '@type': z.literal('expiring'), expiresAt: z.int() });
export type ExpiringFrame = z.infer<typeof ExpiringFrame>;

/** PROTOCOL 6: after a subscribe with `resumeFrom`. */
/** Why a resume answers `recovered:false` (PROTOCOL 6). */
export const NotRecovered = z.enum([
  'not_an_offset',
  'other_epoch',
  'future',
  'expired',
  'trimmed',
  'too_many',
  'too_large',
  'too_long',
  'timeout',
  'busy',
  'memory',
  'unavailable',
  'error',
]);
export type NotRecovered = z.infer<typeof NotRecovered>;

export const ResumedFrame = z.object({
  '@type': z.literal('resumed'),
  recovered: z.boolean(),
  replayed: z.int().min(0).optional(),
  /** With `recovered:false`: why. */
  reason: NotRecovered.optional(),
});
export type ResumedFrame = z.infer<typeof ResumedFrame>;

/**
 * The stable machine-readable `code` of an error frame, with the text (`error`) each stands
 * for today. The text stays what it was (Cells clients show it); clients should branch on the code.
 */
export const ERROR_CODES = {
  /** Not a JSON object, bad JSON after the subscribe, no `@type`, a chat frame whose fields do not fit (the SchemaError text). */
  bad_frame: ['frame is not a JSON object', 'frame has no @type', '<field> must be ... (SchemaError)'],
  /** Before the subscribe: the frame was not a JSON object; then close 4401. */
  bad_json: ['bad JSON'],
  /** The token was refused at subscribe (AuthError reason); then close 4401. */
  unauthenticated: ['authentication failed', 'empty jwt', 'invalid signature', 'malformed token', 'wrong audience', '... (any other AuthError reason)'],
  /** The token expired (at subscribe, or past the grace while connected); then close 4401. */
  token_expired: ['token expired'],
  /** No subscribe within the deadline after connecting or unsubscribing; then close 4401. */
  no_subscribe: ['no subscribe in time'],
  /** The user was deleted; then close 4403. */
  user_removed: ['user removed'],
  /** MAX_SESSIONS_PER_USER reached on this instance; then close 4429. */
  too_many_sessions: ['too many sessions for this user (<max>)'],
  /** A chat frame that needs a subscribed session. */
  not_subscribed: ['not subscribed'],
  /** A per-user or per-session chat rate (joins, posts, rooms created). */
  rate_limited: ['too many joins', 'too many messages', 'too many rooms created'],
  /** CHAT_MAX_ROOMS_PER_SESSION reached. */
  too_many_rooms: ['more than <max> rooms'],
  /** The session may not be in the room (JOIN, or a re-check after an identity change). */
  forbidden: ['forbidden', 'workspace not in session', 'user not named in room', 'node not readable', 'node authorization unavailable', 'unknown room type <Type>'],
  /** A PING for a room that does not exist, or a room gone at a re-check. */
  room_not_found: ['room not found'],
  room_not_joined: ['room not joined'],
  read_only: ['room is read-only'],
  empty_message: ['empty message'],
  message_too_long: ['message longer than <max> characters'],
  message_not_found: ['message not found'],
  not_author: ['not the author of the message'],
  /** PROTOCOL 9: a `call` naming a method that CALL_ROUTES does not list. */
  unknown_method: ['unknown method'],
  /** PROTOCOL 9: CALL_MAX_PER_SESSION calls of the session, or CALL_MAX_IN_FLIGHT of the instance, are in flight. */
  too_many_calls: ['too many calls in flight (<max>)', 'too many calls on this instance'],
  /** PROTOCOL 9: the backend did not answer within CALL_TIMEOUT_MS. */
  call_timeout: ['backend did not answer in time'],
  /** PROTOCOL 9: the backend answered 4xx; `data` is its JSON body, when it sent one. */
  call_refused: ['backend refused the call'],
  /** PROTOCOL 9: the backend is unreachable, answered 5xx, a redirect, or something that is not JSON. */
  call_failed: ['backend unreachable', 'backend failed', 'backend redirected (not followed)', 'backend answer is not JSON'],
  /** PROTOCOL 9: the backend's answer is over CALL_MAX_RESPONSE_BYTES. */
  call_too_large: ['backend answer too large'],
  /** PROTOCOL 9: the call was dropped because the session became another user or lost rights. */
  call_cancelled: ['identity changed'],
  /** PROTOCOL 10: the server API closed the session (`POST /api/disconnect`); the close follows. */
  disconnected: ['disconnected', '<the reason given to the API>'],
  /** A HISTORY not answered now: the session has not read what it was sent (CHAT_HISTORY_MAX_BYTES), or the instance is at its memory budget. Ask again later. */
  busy: ['too much unread: read what was sent first', 'server busy: try again later'],
  /** A chat frame that needed Redis while it could not be reached (an outage, a failover under way): send it again. */
  unavailable: ['storage unavailable: try again'],
  /** A bug: the frame handler failed; the log has the details. */
  internal: ['internal error'],
} as const satisfies Record<string, readonly string[]>;
export type ErrorCode = keyof typeof ERROR_CODES;
export const ErrorCode = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/** A refusal; on `/chat` it names the Room (and the Message of a DELETE_MSG) it refused. */
export const ErrorFrame = z.object({
  '@type': z.literal('error'),
  /** A short reason, for people (Cells clients show it). */
  error: z.string(),
  /** The reason, for programs: branch on this, not on the text. */
  code: ErrorCode,
  Room: z.object({ Uuid: z.string().optional(), Type: z.enum(ROOM_TYPES).optional(), RoomTypeObject: z.string().optional(), RoomLabel: z.string().optional() }).optional(),
  Message: z.object({ Uuid: z.string(), RoomUuid: z.string() }).optional(),
  /** **ext**: the `id` of the POST or DELETE_MSG refused, when it had one. */
  id: z.string().optional(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

/** The error frame for `code`; `text` is the reason people read: give it where it varies (default: the code's first text). */
export function errorFrame(code: ErrorCode, text: string = ERROR_CODES[code][0]): { '@type': 'error'; error: string; code: ErrorCode } {
  return { '@type': 'error', error: text, code };
}

// ------------------------------------------------------------------ server frames, /ws calls (PROTOCOL 9)

/** The backend's 2xx answer, parsed (null for an empty body), to the calling session only. */
export const CallResultFrame = z.object({ '@type': z.literal('result'), id: CallId, result: z.unknown() });
export type CallResultFrame = z.infer<typeof CallResultFrame>;

/** A call that got no result; `id` is absent only when the frame had no usable one. */
export const CallErrorFrame = z.object({
  '@type': z.literal('error'),
  id: CallId.optional(),
  error: z.string(),
  code: ErrorCode,
  /** The backend's HTTP status, when it answered (call_refused, call_failed). */
  status: z.int().optional(),
  /** call_refused: the backend's JSON body, when it sent one. */
  data: z.unknown().optional(),
});
export type CallErrorFrame = z.infer<typeof CallErrorFrame>;

// ------------------------------------------------------------------ server frames, /ws (PROTOCOL 3 and 5)

/** The answer to joinRoom / leaveRoom, and the notice of a room left on an identity change. */
export const RoomAnswer = z.object({
  '@type': z.literal('room'),
  /** As the client sent it; null when a refused name was not a string. */
  room: z.string().nullable(),
  joined: z.boolean(),
  left: z.literal(true).optional(),
  reason: z.string().optional(),
});
export type RoomAnswer = z.infer<typeof RoomAnswer>;

/** The node event types a frame carries (READ never reaches a client). */
export const NodeEventType = z.enum(['CREATE', 'UPDATE_PATH', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_USER_META', 'DELETE']);
export type NodeEventType = z.infer<typeof NodeEventType>;

/** A node as seen from one workspace: Path is `<slug>/<relative path>`, MetaStore has EventWorkspaceId and no `pydio:` key. */
export const FrameNode = z.looseObject({
  Uuid: z.string().optional(),
  Path: z.string().optional(),
  Type: z.string().optional(),
  Size: z.string().optional(),
  MTime: z.string().optional(),
  Etag: z.string().optional(),
  /** Values are JSON strings: `EventWorkspaceId` is `"\"w1\""`. */
  MetaStore: z.record(z.string(), z.string()),
});
export type FrameNode = z.infer<typeof FrameNode>;

/** A NodeChangeEvent as seen from one workspace of the session; a side not visible there is absent. */
export const NodeEventFrame = z.object({
  Type: NodeEventType,
  Source: FrameNode.optional(),
  Target: FrameNode.optional(),
  Silent: z.boolean().optional(),
  Optimistic: z.boolean().optional(),
  ...positioned,
});
export type NodeEventFrame = z.infer<typeof NodeEventFrame>;

/** The TaskChangeEvent as published; the fields Cells' jobs.Task carries that clients read are named. */
export const TaskEventFrame = TaskChangeEvent.extend({
  TaskUpdated: TaskChangeEvent.shape.TaskUpdated.extend({
    ID: z.string().nullish(),
    JobID: z.string().nullish(),
    Status: z.string().nullish(),
    StatusMessage: z.string().nullish(),
    Progress: z.number().nullish(),
  }),
  Job: z.looseObject({ ID: z.string().nullish(), Label: z.string().nullish(), Owner: z.string().nullish() }).nullish(),
  ...positioned,
});
export type TaskEventFrame = z.infer<typeof TaskEventFrame>;

/** The IdmChangeEvent with `@type` `idm` (and User.Password removed). */
export const IdmEventFrame = IdmChangeEvent.extend({ '@type': z.literal('idm'), ...positioned });
export type IdmEventFrame = z.infer<typeof IdmEventFrame>;

/** An ActivityStreams object in a frame. */
export const ActivityObjectFrame = z.looseObject({ type: z.string().nullish(), id: z.string().nullish(), name: z.string().nullish() });
export type ActivityObjectFrame = z.infer<typeof ActivityObjectFrame>;
/** The PostActivityEvent with `@type` `activity`; object/origin/target names reduced to a basename. */
export const ActivityEventFrame = PostActivityEvent.extend({
  '@type': z.literal('activity'),
  Activity: PostActivityEvent.shape.Activity.extend({
    type: z.string().nullish(),
    id: z.string().nullish(),
    summary: z.string().nullish(),
    updated: z.string().nullish(),
    actor: ActivityObjectFrame.nullish(),
    object: ActivityObjectFrame.nullish(),
    origin: ActivityObjectFrame.nullish(),
    target: ActivityObjectFrame.nullish(),
  }),
  ...positioned,
});
export type ActivityEventFrame = z.infer<typeof ActivityEventFrame>;

/** A push command's payload, delivered as-is: any JSON value. */
export const PushPayload = z.unknown();
export type PushPayload = z.infer<typeof PushPayload>;

// ------------------------------------------------------------------ server frames, /chat (PROTOCOL 4)

/** A room with the users present in it, on every instance. */
export const ChatRoomUpdateFrame = z.object({ '@type': z.literal('ROOM_UPDATE'), Room: ChatRoomFrame });
export type ChatRoomUpdateFrame = z.infer<typeof ChatRoomUpdateFrame>;
/** A new message: the ChatMessage itself, with no `@type`. */
export { ChatMessageFrame };
/** After a full HISTORY page: ask for `Offset` next. Timestamp is the oldest message's of the page. */
export const ChatMayHaveMoreFrame = z.object({
  '@type': z.literal('MAY_HAVE_MORE'),
  RoomUuid: z.string(),
  Timestamp: z.string(),
  Offset: z.int().min(0),
  Limit: z.int().min(0),
});
export type ChatMayHaveMoreFrame = z.infer<typeof ChatMayHaveMoreFrame>;
/**
 * **ext**: the answer to a POST or DELETE_MSG that had an `id`: the message stored (with its Seq)
 * or deleted. Refusals are error frames with the same `id`.
 */
export const ChatAckFrame = z.object({
  '@type': z.literal('ack'),
  id: z.string(),
  RoomUuid: z.string(),
  /** The message posted, or deleted. */
  Uuid: z.string(),
  /** A POST's: the message's Seq. */
  Seq: z.int().min(1).optional(),
});
export type ChatAckFrame = z.infer<typeof ChatAckFrame>;
export const ChatMessageDeletedFrame = z.object({ '@type': z.literal(DELETE_DETAILS), Message: ChatMessageFrame });
export type ChatMessageDeletedFrame = z.infer<typeof ChatMessageDeletedFrame>;
