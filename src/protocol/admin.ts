/**
 * The server API (docs/protocol.md 10): what `POST /api/disconnect` and the query strings
 * accept, and the requests and replies the instances exchange on Redis to answer them
 * (`ADMIN_CHANNEL`, and `<ADMIN_CHANNEL>.reply.<instance>`). Pure: zod only.
 */
import * as z from 'zod';

/** Most sessions (or users) one answer lists; the counts are always whole. */
export const MAX_ADMIN_LIMIT = 1000;
export const DEFAULT_ADMIN_LIMIT = 100;

const Name = (max: number) => z.string({ error: '{} must be a string' }).min(1, '{} must not be empty').max(max, `{} is longer than ${max} characters`);
/** A login, a session id or a room name, as it is held in the registry. */
export const AdminUser = Name(256);
export const AdminSessionId = Name(64);
export const AdminRoom = Name(1024);
/** The `limit` query parameter: how many sessions the answer lists (1 to 1000). */
export const AdminLimit = z
  .string({ error: '{} must be a number' })
  .regex(/^\d{1,4}$/, '{} must be an integer from 1 to 1000')
  .transform(Number)
  .pipe(z.int().min(1, '{} must be an integer from 1 to 1000').max(MAX_ADMIN_LIMIT, '{} must be an integer from 1 to 1000'))
  .optional()
  .transform((n) => n ?? DEFAULT_ADMIN_LIMIT);

/** An application close code (RFC 6455 7.4.2): 4000 to 4999. */
export const CloseCode = z.int({ error: '{} must be an integer from 4000 to 4999' }).min(4000, '{} must be an integer from 4000 to 4999').max(4999, '{} must be an integer from 4000 to 4999');
/** Printable, and short enough for a close frame. */
export const CloseText = Name(100).regex(/^[^\p{Cc}]*$/u, '{} must be printable');

/** `POST /api/disconnect`: one user (every session, every instance, older tokens refused) or one session. */
export const DisconnectBody = z
  .strictObject(
    {
      user: AdminUser.optional(),
      session: AdminSessionId.optional(),
      code: CloseCode.default(4403),
      reason: CloseText.default('disconnected'),
    },
    { error: '{} must be a JSON object with user or session, and optionally code and reason' },
  )
  .refine((b) => (b.user === undefined) !== (b.session === undefined), { error: '{} must name either a user or a session' });
export type DisconnectBody = z.output<typeof DisconnectBody>;

// ------------------------------------------------------------------ between instances (Redis)

/** An instance's name: `<host name>-<6 hex>`; it ends a reply channel's name. */
export const InstanceId = z.string().regex(/^[\w.-]{1,80}$/);

export const AdminQuery = z.discriminatedUnion('op', [
  z.object({ op: z.literal('sessions'), user: AdminUser.optional(), limit: z.int().min(1).max(MAX_ADMIN_LIMIT) }),
  z.object({ op: z.literal('presence'), room: AdminRoom, limit: z.int().min(1).max(MAX_ADMIN_LIMIT) }),
  z.object({
    op: z.literal('disconnect'),
    user: AdminUser.optional(),
    session: AdminSessionId.optional(),
    code: CloseCode,
    reason: CloseText,
    /** When the requesting instance revoked the user's tokens (ms): every instance refuses the same ones. */
    at: z.int().min(0),
  }),
  z.object({ op: z.literal('stats') }),
]);
export type AdminQuery = z.infer<typeof AdminQuery>;

export const AdminRequest = z.object({ id: z.uuid(), from: InstanceId, query: AdminQuery });
export type AdminRequest = z.infer<typeof AdminRequest>;

export const Endpoint = z.enum(['events', 'chat']);

/** A session as the server API lists it. */
export const SessionInfo = z.object({
  sessionId: z.string(),
  endpoint: Endpoint,
  user: z.string(),
  profile: z.string(),
  /** Unix seconds: the token's `exp`. */
  expiresAt: z.int().optional(),
  /** Push rooms (`/ws`) or chat rooms (`/chat`) it is in. */
  rooms: z.int().min(0),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

/** One instance's part of an answer, per query. */
export const SessionsPart = z.object({ count: z.int().min(0), sessions: z.array(SessionInfo).max(MAX_ADMIN_LIMIT) });
export type SessionsPart = z.infer<typeof SessionsPart>;
export const PresencePart = z.object({
  count: z.int().min(0),
  /** The distinct users of those sessions, sorted, at most `limit`. */
  users: z.array(z.string()).max(MAX_ADMIN_LIMIT),
  sessions: z.array(z.object({ sessionId: z.string(), endpoint: Endpoint, user: z.string() })).max(MAX_ADMIN_LIMIT),
});
export type PresencePart = z.infer<typeof PresencePart>;
export const DisconnectPart = z.object({ closed: z.int().min(0) });
export type DisconnectPart = z.infer<typeof DisconnectPart>;
const PerEndpoint = z.object({ events: z.int().min(0), chat: z.int().min(0) });
export const StatsPart = z.object({
  /** Open WebSocket connections, subscribed or not. */
  connections: PerEndpoint,
  /** Subscribed sessions. */
  sessions: PerEndpoint,
  /** Bus events received per second, per topic, over the last 30 s (less just after the start). */
  eventsPerSecond: z.record(z.string().max(64), z.number().min(0)),
  uptimeSeconds: z.number().min(0),
});
export type StatsPart = z.infer<typeof StatsPart>;

export const AdminReply = z.object({
  id: z.uuid(),
  instance: InstanceId,
  /** The part, checked against its query's schema by the instance that asked. */
  part: z.unknown(),
});
export type AdminReply = z.infer<typeof AdminReply>;

/** The part schema of each query. */
export const PART_OF = { sessions: SessionsPart, presence: PresencePart, disconnect: DisconnectPart, stats: StatsPart } as const;
export type PartOf<Op extends AdminQuery['op']> = z.infer<(typeof PART_OF)[Op]>;
