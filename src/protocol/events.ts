/**
 * The payloads backends publish on the bus (docs/protocol.md 3 to 5), as zod schemas: the one
 * definition the service validates with (the parse functions of src/topics, src/push and
 * src/chat), that docs/asyncapi.yaml is checked against (scripts/check-asyncapi.mjs) and that
 * the client takes its types from (type-only). Pure: zod only, no Nest, no Node API.
 *
 * Conventions, as Cells publishes:
 * - null is the same as absent (`.nullish()`);
 * - a string field of a node or of a chat object accepts a JSON number too and turns it into
 *   a string (BusString: 64-bit integers and ids travel as either);
 * - fields not listed pass through unchanged (`looseObject`): payloads are delivered as published.
 * Error texts: every text given here has `{}`, which stands for the name of the field
 * (SchemaError, src/common/schema.ts); where a schema gives none, `parseWith` words it from
 * the issue ("{} must be a string").
 */
import * as z from 'zod';

/** A string; a JSON number is accepted and turned into its decimal string. */
export const BusString = z.union([z.string(), z.number().transform(String)], { error: '{} must be a string' });

/** `/a/b/` -> `a/b`. */
export const trimSlashes = (path: string): string => path.replace(/^\/+|\/+$/g, '');

type NoNulls<T> = { [K in keyof T]: Exclude<T[K], null> };

/** The object without null at `keys` (null is absent). Mutates: only for an object zod just built. */
function dropNulls<T extends object>(obj: T, keys: readonly (keyof T)[] = Object.keys(obj) as (keyof T)[]): NoNulls<T> {
  for (const key of keys) if (obj[key] === null) delete obj[key];
  return obj as NoNulls<T>;
}

// ------------------------------------------------------------------ tree and meta (PROTOCOL 3.2)

/** Node fields read as strings (Size and MTime are 64-bit integers, often published as numbers). */
export const NODE_STRING_FIELDS = ['Uuid', 'Path', 'Type', 'Size', 'MTime', 'Etag'] as const;

/**
 * Values are JSON strings (`"\"w1\""`); a raw value is tolerated and JSON-encoded. An object
 * with any keys: `looseObject({})` rather than `record(string, unknown)`, which checks every
 * key and value for nothing (JSON keys are strings) and made this half of a node event's parse.
 */
export const MetaStore = z.looseObject({}).transform((meta) => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) if (v !== undefined) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
});

/** A tree node: the listed fields normalised (Path without slashes at the ends), the others kept. */
export const TreeNode = z
  .looseObject({
    Uuid: BusString.nullish(),
    Path: BusString.nullish(),
    /** `LEAF` or `COLLECTION`. */
    Type: BusString.nullish(),
    Size: BusString.nullish(),
    MTime: BusString.nullish(),
    Etag: BusString.nullish(),
    MetaStore: MetaStore.nullish(),
  })
  .transform((node) => {
    // Only the listed fields: other keys, null or not, pass unchanged.
    const out = dropNulls(node, [...NODE_STRING_FIELDS, 'MetaStore']);
    if (out.Path !== undefined) out.Path = trimSlashes(out.Path);
    return out;
  });
export type TreeNode = z.output<typeof TreeNode>;

/**
 * Cells `tree.NodeChangeEvent`. Type is kept as any string (a missing one is CREATE): unknown
 * types reach the handler, which drops and counts them. Other top-level keys are dropped.
 */
export const NodeChangeEvent = z
  .object({
    Type: z.string().nullish(),
    Source: TreeNode.nullish(),
    Target: TreeNode.nullish(),
    Silent: z.boolean().nullish(),
    Optimistic: z.boolean().nullish(),
  })
  .refine((e) => e.Source != null || e.Target != null, '{} needs a Source or a Target')
  .transform(({ Type, ...rest }) => ({ Type: Type ?? 'CREATE', ...dropNulls(rest) }));
export type NodeChangeEvent = z.output<typeof NodeChangeEvent>;

// ------------------------------------------------------------------ tasks (PROTOCOL 3.3)

/** Cells `jobs.TaskChangeEvent`; only what decides the audience is checked. */
export const TaskChangeEvent = z.looseObject({
  TaskUpdated: z.looseObject({ TriggerOwner: z.string().nullish() }),
  Job: z.looseObject({}).nullish(),
});
export type TaskChangeEvent = z.output<typeof TaskChangeEvent>;

// ------------------------------------------------------------------ IDM (PROTOCOL 3.4)

/** Cells `idm.ChangeEvent`: one of User, Role, Workspace, Acl; only what decides the audience is checked. */
export const IdmChangeEvent = z.looseObject({
  Type: z.string().nullish(),
  User: z.looseObject({ Uuid: z.string().nullish(), Login: z.string().nullish() }).nullish(),
  Role: z.looseObject({ Uuid: z.string().nullish() }).nullish(),
  Workspace: z.looseObject({ UUID: z.string().nullish() }).nullish(),
  Acl: z
    .looseObject({
      RoleID: z.string().nullish(),
      Action: z.looseObject({ Name: z.string().nullish() }).nullish(),
    })
    .nullish(),
});
export type IdmChangeEvent = z.output<typeof IdmChangeEvent>;

// ------------------------------------------------------------------ activity (PROTOCOL 3.5)

/** An ActivityStreams object (Cells `activity.Object`, lower-case field names). */
export const ActivityObject = z.looseObject({ id: z.string().nullish(), name: z.string().nullish() });
export type ActivityObject = z.output<typeof ActivityObject>;

/** Cells `activity.PostActivityEvent`. */
export const PostActivityEvent = z.looseObject({
  OwnerType: z.string().nullish(),
  OwnerId: z.string().nullish(),
  BoxName: z.string().nullish(),
  Activity: z.looseObject({
    actor: ActivityObject.nullish(),
    object: ActivityObject.nullish(),
    origin: ActivityObject.nullish(),
    target: ActivityObject.nullish(),
  }),
});
export type PostActivityEvent = z.output<typeof PostActivityEvent>;

// ------------------------------------------------------------------ chat (PROTOCOL 4)

export const ROOM_TYPES = ['GLOBAL', 'WORKSPACE', 'USER', 'NODE', 'ANY'] as const;

/** A room type: its name, case-insensitive, or its protobuf enum number (0 GLOBAL ... 4 ANY). */
export const RoomType = z.union(
  [
    z
      .int()
      .min(0)
      .max(ROOM_TYPES.length - 1)
      .transform((i) => ROOM_TYPES[i]),
    z
      .string()
      .transform((name) => name.toUpperCase())
      .pipe(z.enum(ROOM_TYPES)),
  ],
  { error: (iss) => (typeof iss.input === 'string' ? `{} must be one of ${ROOM_TYPES.join(', ')}` : '{} must be a string') },
);
export type RoomType = z.output<typeof RoomType>;

/** A non-empty id (a number is turned into a string): a missing, null or empty one is refused as "required". */
const RequiredId = z
  .union([z.string(), z.number().transform(String)], { error: (iss) => (iss.input == null ? '{} is required' : '{} must be a string') })
  .refine((id) => id !== '', '{} is required');

/** A chat message as frames carry it (and as the service stores it): every field, strings. */
export const ChatMessageFrame = z.object({
  Uuid: z.string(),
  RoomUuid: z.string(),
  Message: z.string(),
  /** Login of the author, set by the server. */
  Author: z.string(),
  /** Unix seconds, set by the server. */
  Timestamp: z.string(),
  /**
   * **ext**: the message's place in its room, set by Switchboard's store (1, 2, 3... per room, never
   * reused): order by it, not by the 1-second Timestamp. Absent on messages a backend published itself.
   */
  Seq: z.int().min(1).optional(),
});
export type ChatMessageFrame = z.infer<typeof ChatMessageFrame>;

/** A room as frames carry it (and as the service stores it), with the logins present in it. */
export const ChatRoomFrame = z.object({
  Uuid: z.string(),
  Type: z.enum(ROOM_TYPES),
  RoomTypeObject: z.string(),
  Users: z.array(z.string()),
  /** Unix seconds (the room's creation time). */
  LastUpdated: z.string(),
  RoomLabel: z.string().optional(),
});
export type ChatRoomFrame = z.infer<typeof ChatRoomFrame>;

/** Cells `chat.ChatMessage` as the bus carries it, read into a ChatMessageFrame; unknown fields are dropped. */
export const ChatMessage = z
  .object({
    Uuid: RequiredId,
    RoomUuid: RequiredId,
    Message: BusString.nullish(),
    Author: BusString.nullish(),
    /** Unix seconds. */
    Timestamp: BusString.nullish(),
    /** **ext**: set by Switchboard's store (see ChatMessageFrame); a backend's message has none. */
    Seq: z.int().min(1).nullish(),
  })
  .transform(
    (m): ChatMessageFrame => ({ Uuid: m.Uuid, RoomUuid: m.RoomUuid, Message: m.Message ?? '', Author: m.Author ?? '', Timestamp: m.Timestamp ?? '0', ...(m.Seq != null && { Seq: m.Seq }) }),
  );
export type ChatMessage = z.output<typeof ChatMessage>;

/** Cells `chat.ChatRoom` as the bus carries it, read into a ChatRoomFrame; unknown fields are dropped. */
export const ChatRoom = z
  .object({
    /** Logins present in the room. */
    Users: z.array(z.string({ error: '{} must be an array of strings' }), { error: '{} must be an array of strings' }).nullish(),
    Uuid: RequiredId,
    /** Protobuf JSON omits an enum at its default value, and GLOBAL is 0. */
    Type: RoomType.nullish(),
    RoomTypeObject: BusString.nullish(),
    RoomLabel: BusString.nullish(),
    /** Unix seconds. */
    LastUpdated: BusString.nullish(),
  })
  .transform(({ Uuid, Type, RoomTypeObject, RoomLabel, Users, LastUpdated }): ChatRoomFrame => ({
    Uuid,
    Type: Type ?? 'GLOBAL',
    RoomTypeObject: RoomTypeObject ?? '',
    Users: Users ?? [],
    LastUpdated: LastUpdated ?? '0',
    ...(RoomLabel != null && { RoomLabel }),
  }));
export type ChatRoom = z.output<typeof ChatRoom>;

/** `Details` values that make a ChatEvent with a Message a deletion: Switchboard's, and Cells'. */
export const DELETE_DETAILS = 'DELETE_MSG';

/**
 * Cells `chat.ChatEvent`: a Message, a Room, or both; a deletion is the deleted Message with
 * Details `DELETE` (Cells) or `DELETE_MSG` (Switchboard). Other Details are free text.
 */
export const ChatEvent = z
  .object({ Message: ChatMessage.nullish(), Room: ChatRoom.nullish(), Details: BusString.nullish() })
  .superRefine((e, ctx) => {
    if (e.Message == null && e.Room == null) ctx.addIssue({ code: 'custom', message: '{} needs a Message or a Room', input: e });
    else if (e.Details === DELETE_DETAILS && e.Message == null) ctx.addIssue({ code: 'custom', message: 'a DELETE_MSG {} needs the Message', input: e });
  })
  .transform((e) => dropNulls(e));
export type ChatEvent = z.output<typeof ChatEvent>;

// ------------------------------------------------------------------ generic push (PROTOCOL 5)

export const MAX_ROOM_LENGTH = 200;

/** Why `room` is not an acceptable push room name, or undefined when it is. */
export function roomNameProblem(room: unknown): string | undefined {
  if (typeof room !== 'string') return 'room must be a string';
  if (room.length < 1 || room.length > MAX_ROOM_LENGTH) return `room name must be 1 to ${MAX_ROOM_LENGTH} characters`;
  if (/\p{Cc}/u.test(room)) return 'room name has control characters';
  return undefined;
}

/** Deliver `payload` as-is to the sessions of a user, of a room, or to one session. */
export interface PushDelivery {
  kind: 'push';
  user?: string;
  room?: string;
  /** Alone: that session only. With user or room: a filter (the session must match them too). */
  session?: string;
  payload: unknown;
  /** **ext**: pushes to the same target with the same key within the window are merged into the last one. */
  coalesce?: PushCoalesce;
}

/** **ext** (PROTOCOL 5): merge pushes of one key (rt-coreExtension-websocket's normalization, Centrifugo's latest value). */
export const PushCoalesce = z.object({
  /** What is merged: pushes to the same target with this key. */
  key: z.string().min(1, '{} must not be empty').max(200, '{} is longer than 200 characters'),
  /** The window, from the first push of the key (default 200 ms, at most PUSH_COALESCE_MAX_MS). */
  windowMs: z.int('{} must be an integer').min(1, '{} must be at least 1').max(3_600_000, '{} must be at most 3600000').optional(),
});
export type PushCoalesce = z.output<typeof PushCoalesce>;

/** The backend puts a user's sessions in a room, or takes them out (pakyow's `socket.subscribe`). */
export interface PushSubscription {
  kind: 'subscribe' | 'unsubscribe';
  user: string;
  room: string;
  /** Only that session of the user. */
  session?: string;
}

/**
 * A target field (login, room or session id). null and '' count as absent, as in websocket-push
 * (which tests truthiness): a publisher that forwards an empty tabWindowId still reaches every tab.
 */
const Target = z.string().nullish();
const given = (v: string | null | undefined): string | undefined => (v === null || v === '' ? undefined : v);

/**
 * What a backend publishes on `switchboard.push` and on websocket-push's `BackgroundPush`:
 * one destination (pushToUser, pushToRoom or pushToSession / its alias tabWindowId) with a
 * payload, or one membership change (subscribeUser / unsubscribeUser with a room). Parsed
 * into a PushDelivery or a PushSubscription.
 */
export const PushCommand = z
  .looseObject({
    // In the order the fields are checked, so that the first problem is the one reported.
    pushToSession: Target,
    /** websocket-push's name for pushToSession. */
    tabWindowId: Target,
    subscribeUser: Target,
    unsubscribeUser: Target,
    pushToUser: Target,
    pushToRoom: Target,
    /** The room of subscribeUser / unsubscribeUser; read (and checked) only with them. */
    room: z.unknown().optional().meta({ type: 'string' }),
    /** Any JSON value, delivered as-is. */
    payload: z.unknown().optional(),
    /** **ext**: merge pushes of one key to the same target within a window. */
    coalesce: PushCoalesce.optional(),
  })
  .transform((cmd, ctx): PushDelivery | PushSubscription => {
    const fail = (message: string, path: string[] = []) => {
      ctx.addIssue({ code: 'custom', message, path, input: cmd });
      return z.NEVER;
    };
    const pushToSession = given(cmd.pushToSession);
    const tab = given(cmd.tabWindowId);
    if (pushToSession !== undefined && tab !== undefined && pushToSession !== tab) return fail('{} has different pushToSession and tabWindowId');
    const session = pushToSession ?? tab;
    const subscribe = given(cmd.subscribeUser);
    const unsubscribe = given(cmd.unsubscribeUser);

    if (subscribe !== undefined || unsubscribe !== undefined) {
      if (subscribe !== undefined && unsubscribe !== undefined) return fail('{} has both subscribeUser and unsubscribeUser');
      if (cmd.pushToUser !== undefined || cmd.pushToRoom !== undefined || cmd.payload !== undefined || cmd.coalesce !== undefined) {
        return fail('{} mixes subscribeUser/unsubscribeUser with delivery fields');
      }
      if (cmd.room !== undefined && cmd.room !== null && typeof cmd.room !== 'string') return fail('{} must be a string', ['room']);
      const room = given(cmd.room as string | null | undefined);
      if (room === undefined) return fail('{} is required with subscribeUser/unsubscribeUser', ['room']);
      const bad = roomNameProblem(room);
      if (bad) return fail(`{}: ${bad}`, ['room']);
      return { kind: subscribe !== undefined ? 'subscribe' : 'unsubscribe', user: (subscribe ?? unsubscribe)!, room, session };
    }

    const user = given(cmd.pushToUser);
    const room = given(cmd.pushToRoom);
    const bad = room === undefined ? undefined : roomNameProblem(room);
    if (bad) return fail(`{}: ${bad}`, ['pushToRoom']);
    // websocket-push documents one destination per message; refusing both is louder than guessing.
    if (user !== undefined && room !== undefined) return fail('{} has both pushToUser and pushToRoom: give one destination');
    if (user === undefined && room === undefined && session === undefined) {
      return fail('{} needs pushToUser, pushToRoom or pushToSession (or subscribeUser/unsubscribeUser)');
    }
    if (cmd.payload === undefined) return fail('{} needs a payload');
    return { kind: 'push', user, room, session, payload: cmd.payload, ...(cmd.coalesce && { coalesce: cmd.coalesce }) };
  });
/** What a backend sends. */
export type PushCommand = z.input<typeof PushCommand>;
/** What the service acts on. */
export type ParsedPushCommand = z.output<typeof PushCommand>;
