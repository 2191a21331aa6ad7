/**
 * The one typed configuration object, read from the environment and validated at start-up.
 * A bad value stops the start with a message that names the variable.
 */
import { randomBytes } from 'node:crypto';
import { normalizeOrigin } from '../common/origin.js';

/**
 * Every bus channel: its configuration key (what `@Topic({ channel })` names), the variable
 * that renames it, and its default name. A new topic adds one line here.
 */
const CHANNELS = {
  tree: ['CHANNEL_TREE', 'topic.pydio.tree.nodes.changes'],
  meta: ['CHANNEL_META', 'topic.pydio.meta.nodes.changes'],
  tasks: ['CHANNEL_TASKS', 'topic.pydio.tasks.event'],
  idm: ['CHANNEL_IDM', 'topic.pydio.idm.event'],
  activity: ['CHANNEL_ACTIVITY', 'topic.pydio.activity.event'],
  chat: ['CHANNEL_CHAT', 'topic.pydio.chat.event'],
  push: ['CHANNEL_PUSH', 'switchboard.push'],
  pushCompat: ['CHANNEL_PUSH_COMPAT', 'BackgroundPush'],
} as const;

export type Channels = Record<keyof typeof CHANNELS, string>;

/** A `host:port` of REDIS_SENTINELS or REDIS_CLUSTER_NODES. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Credentials and TLS of Redis data nodes (or of Sentinels). `tls`: Node's default CAs plus NODE_EXTRA_CA_CERTS. */
export interface RedisAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * Where Redis is: exactly one of REDIS_URL (one server), REDIS_SENTINELS (a master found
 * through Sentinel) or REDIS_CLUSTER_NODES (a Redis Cluster). Unset: no Redis at all.
 */
export type RedisTarget =
  | { mode: 'standalone'; url: string }
  | { mode: 'sentinel'; sentinels: RedisAddress[]; name: string; db: number; node: RedisAuth; sentinel: RedisAuth }
  | { mode: 'cluster'; nodes: RedisAddress[]; node: RedisAuth };

export interface Config {
  port: number;
  host: string;
  /** Unset: embedded in-memory bus, single instance. */
  redis?: RedisTarget;
  jwt: {
    secret?: string;
    publicKey?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    expiryGraceSeconds: number;
    /** The `expiring` frame goes out this long before `exp` (at most half the token's lifetime); 0: never. */
    renewBeforeSeconds: number;
    /** The longest a token lives: how long a user deletion is remembered (with the grace). */
    maxLifetimeSeconds: number;
    /** Accept tokens that carry no `exp` (they would never expire). Off by default. */
    allowWithoutExp: boolean;
    /** Logins equal but for case are one user (Cells' `services/pydio.grpc.user/loginCI`); off, as in Cells. */
    loginCaseInsensitive: boolean;
    /** Redis key prefix of the revocation markers (`<key>:user:<login>`...), shared by every instance. */
    revocationsKey: string;
    /** Largest JWKS answer read, bytes. */
    jwksMaxBytes: number;
  };
  /** Optional HTTP resolver answering the workspaces of a token (PROTOCOL 3.1). */
  workspacesUrl?: string;
  /** Largest answer of the workspaces resolver read, bytes. */
  workspacesMaxBytes: number;
  /** Optional HTTP endpoint answering a node's path from its uuid (PROTOCOL 3.2). */
  nodeLookupUrl?: string;
  nodeBatchWindowMs: number;
  nodeBatchMaxWaitMs: number;
  logLevel: string;
  apiKey?: string;
  channels: Channels;
  limits: {
    maxFrameBytes: number;
    pingIntervalMs: number;
    pongTimeoutMs: number;
    /**
     * On shutdown each socket is told `retry in <n> ms`, n drawn uniformly in [0, this]: a rolling
     * restart spreads the reconnects of clients that honour the hint (@switchboard/client does).
     */
    shutdownReconnectWindowMs: number;
    /** Outbound token bucket per session (PROTOCOL 3.6). */
    sessionRate: number;
    sessionBurst: number;
    /** Frames waiting in a session's queue before it is closed 4008. */
    sessionQueueMax: number;
    /** Unsent bytes (socket buffer plus queued frames; replies count too) before it is closed 4008. */
    sessionMaxBufferedBytes: number;
    /** Inbound frames per connection (close 4429 beyond). */
    clientFrameRate: number;
    clientFrameBurst: number;
    /** Global limiter for `Silent` node events. */
    silentRate: number;
    silentBurst: number;
    /** Pending coalesced nodes before the oldest is flushed early. */
    maxPendingNodes: number;
    publishBodyBytes: number;
    /** Largest bus payload (a Redis message, or an event published over HTTP), bytes. */
    maxEventBytes: number;
    /** Deepest JSON nesting accepted from the bus, /api/publish and client frames. */
    maxJsonDepth: number;
    /** Open WebSocket connections per instance (both endpoints); 0 = no limit. Beyond: HTTP 503 at the upgrade. */
    maxConnections: number;
    /** Open WebSocket connections per client address; 0 = no limit. Beyond: HTTP 429 at the upgrade. */
    maxConnectionsPerAddress: number;
    /** Subscribed sessions per user, per endpoint and instance; 0 = no limit. Beyond: error frame, close 4429. */
    maxSessionsPerUser: number;
    /** A connection without a successful subscribe this long after opening is closed 4401. */
    subscribeTimeoutMs: number;
  };
  /** Browser origins allowed to open a WebSocket; empty = any (a warning at start). */
  allowedOrigins: string[];
  http: {
    /** Node's server.headersTimeout: time to receive a request's headers. */
    headersTimeoutMs: number;
    /** Node's server.requestTimeout: time to receive a whole request (headers and body). */
    requestTimeoutMs: number;
  };
  /** The memory budget (src/memory): work that would take RSS past it, less the margin, is refused. */
  memory: {
    /** MEMORY_BUDGET_MB: undefined: the container's cgroup limit (or none); 0: none. */
    budgetMb?: number;
    /** Part of the budget kept free, percent. */
    marginPercent: number;
  };
  chat: {
    nodeAuthUrl?: string;
    /** Largest answer of the NODE authorization endpoint read, bytes. */
    nodeAuthMaxBytes: number;
    /** Most bytes a HISTORY answer may bring a session's unsent bytes to (PROTOCOL 4). */
    historyMaxBytes: number;
    /** How long a NODE authorization answer is reused for the same token and node; 0: ask every time. */
    nodeAuthCacheSeconds: number;
    /** Prefix of every chat key in Redis (rooms, messages, presence, per-user limits). */
    keyPrefix: string;
    maxMessageLength: number;
    historyLimit: number;
    maxRoomsPerSession: number;
    presenceTimeoutMs: number;
    /** A room's presence changes within this long after a ROOM_UPDATE go out together in the next one; 0: each at once. */
    roomUpdateWindowMs: number;
    messageRate: number;
    /** POSTs per second per user, all sessions and instances together. */
    userMessageRate: number;
    /** JOINs (PINGs included) per second per user, all sessions and instances together. */
    userJoinRate: number;
    /** Rooms one user may create per window. */
    roomCreateLimit: number;
    roomCreateWindowSeconds: number;
    /** A room with nobody present and no message for this long is forgotten, history included. */
    roomTtlSeconds: number;
  };
  push: {
    openRooms: string[];
    maxRoomsPerSession: number;
    /** The longest a push may ask to be coalesced for (`coalesce.windowMs` is cut to it). */
    coalesceMaxMs: number;
  };
  /** Task events of one task that only report progress, merged within this window (last Progress wins); 0: off. */
  taskCoalesceMs: number;
  /** The shared event history (PROTOCOL 6). */
  history: {
    /** Redis stream key; `<key>:epoch` and `<key>:lease` sit next to it. */
    key: string;
    maxLength: number;
    ttlSeconds: number;
    /** Most frames, and bytes of frames, one resume may send; beyond: `recovered:false`. */
    replayMaxEvents: number;
    replayMaxBytes: number;
    /** Most history entries one resume may read, whether the session receives them or not. */
    replayScanMax: number;
    /** Time one resume may take, waiting for its turn and for lookups included; beyond: `recovered:false`. */
    replayTimeoutMs: number;
    /** Replays under way at once on this instance; the others wait (at most `replayQueueMax`). */
    replayConcurrency: number;
    replayQueueMax: number;
    /** Payload bytes of the newest entries kept in memory for replays (Redis mode). */
    cacheBytes: number;
    /** The pub/sub appender's lease; a dead holder is replaced within about this long. */
    leaseMs: number;
  };
  /** Calls over the socket (PROTOCOL 9): `call` frames forwarded to backends over HTTP. */
  calls: {
    /** Method name -> backend URL (CALL_ROUTES); empty: every call is refused `unknown_method`. */
    routes: Map<string, string>;
    /** HS256 key of the identity token each call carries; required when there are routes. */
    signingSecret?: string;
    /** The identity token's `iss`. */
    issuer: string;
    timeoutMs: number;
    /** Calls in flight per session, and per instance; beyond: `too_many_calls`. */
    maxPerSession: number;
    maxInFlight: number;
    /** Largest backend answer, bytes (read as a stream, never whole beyond it). */
    maxResponseBytes: number;
  };
  /** The server API (PROTOCOL 10): `/api/sessions`, `/api/rooms/<room>/presence`, `/api/disconnect`, `/api/stats`. */
  admin: {
    /** Unset: the server API answers 404 (disabled). Never the publish key. */
    apiKey?: string;
    /** Redis channel of the cross-instance requests; replies go to `<channel>.reply.<instance>`. */
    channel: string;
    /** How long an answer waits for the other instances before it goes out partial. */
    timeoutMs: number;
  };
  shutdownGraceMs: number;
  /**
   * DEMO_MODE=true: mints tokens for fixed demo users and serves the example page (local demos
   * only). The JWT secret and the API key are then generated at start, never read.
   */
  demo?: { dir: string; tokenSeconds: number };
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** A call's method name: what CALL_ROUTES and the `call` frame may name. */
export const CALL_METHOD = /^[A-Za-z][\w.:-]{0,63}$/;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return n;
  };
  const bool = (name: string, def: boolean): boolean => {
    const raw = str(name)?.toLowerCase();
    if (raw === undefined) return def;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  };
  const list = (name: string): string[] =>
    (str(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(`${name} must be a URL, got "${raw}"`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    }
    return raw;
  };
  const channel = (name: string, def: string): string => {
    const v = str(name) ?? def;
    if (/\s/.test(v)) throw new ConfigError(`${name} must not contain spaces, got "${v}"`);
    return v;
  };

  const channels = Object.fromEntries(Object.entries(CHANNELS).map(([key, [name, def]]) => [key, channel(name, def)])) as Channels;
  const names = Object.values(channels);
  // One topic per channel: the same name twice would hand one topic's events to another.
  if (new Set(names).size !== names.length) throw new ConfigError(`CHANNEL_* names must differ, got ${names.join(', ')}`);

  const logLevel = (str('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  // A PEM key passed through an env var often has its newlines escaped.
  const publicKey = str('JWT_PUBLIC_KEY')?.replace(/\\n/g, '\n');
  if (publicKey !== undefined && !publicKey.includes('-----BEGIN')) {
    throw new ConfigError('JWT_PUBLIC_KEY must be a PEM key (-----BEGIN PUBLIC KEY-----...)');
  }
  const nodeBatchWindowMs = int('NODE_BATCH_WINDOW_MS', 1000, 0, 60_000);
  const nodeBatchMaxWaitMs = int('NODE_BATCH_MAX_WAIT_MS', 3000, 0, 600_000);
  if (nodeBatchMaxWaitMs < nodeBatchWindowMs) {
    throw new ConfigError('NODE_BATCH_MAX_WAIT_MS must be at least NODE_BATCH_WINDOW_MS');
  }
  const openRooms = list('PUSH_OPEN_ROOMS');
  const calls = callsConfig();
  const admin = adminConfig();
  // Compared as browsers mean them: scheme and host lower case, without the default port.
  const allowedOrigins = list('ALLOWED_ORIGINS').map((o) => {
    const origin = normalizeOrigin(o);
    if (origin === undefined) throw new ConfigError(`ALLOWED_ORIGINS must list http(s) origins (scheme://host[:port]), got "${o}"`);
    return origin;
  });
  const historyMaxLength = int('HISTORY_MAX_LENGTH', 10_000, 1, 10_000_000);
  const redis = redisTarget();
  const chatKeyPrefix = channel('CHAT_KEY_PREFIX', 'switchboard:chat:');
  // A brace would start a Redis Cluster hash tag of its own and split a room's keys over slots.
  if (/[{}]/.test(chatKeyPrefix)) throw new ConfigError(`CHAT_KEY_PREFIX must not contain { or }, got "${chatKeyPrefix}"`);
  const httpHeadersTimeoutMs = int('HTTP_HEADERS_TIMEOUT_MS', 10_000, 1000, 600_000);
  const httpRequestTimeoutMs = int('HTTP_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000);
  if (httpRequestTimeoutMs < httpHeadersTimeoutMs) {
    throw new ConfigError('HTTP_REQUEST_TIMEOUT_MS must be at least HTTP_HEADERS_TIMEOUT_MS');
  }

  const demo = demoMode();

  return {
    port: int('PORT', 5050, 0, 65535),
    host: str('HOST') ?? (demo ? '127.0.0.1' : '::'),
    redis,
    jwt: {
      secret: demo ? demo.secret : str('JWT_SECRET'),
      publicKey,
      jwksUrl: url('JWT_JWKS_URL', ['http:', 'https:']),
      issuer: str('JWT_ISSUER'),
      audience: str('JWT_AUDIENCE'),
      expiryGraceSeconds: int('TOKEN_EXPIRY_GRACE_SECONDS', 30, 0, 86_400),
      renewBeforeSeconds: int('TOKEN_RENEW_BEFORE_SECONDS', 60, 0, 86_400),
      maxLifetimeSeconds: int('TOKEN_MAX_LIFETIME_SECONDS', 86_400, 60, 31 * 86_400),
      allowWithoutExp: bool('ALLOW_TOKENS_WITHOUT_EXP', false),
      loginCaseInsensitive: bool('LOGIN_CASE_INSENSITIVE', false),
      revocationsKey: channel('REVOCATIONS_KEY', 'switchboard:revoked'),
      jwksMaxBytes: int('JWT_JWKS_MAX_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    },
    workspacesUrl: url('WORKSPACES_URL', ['http:', 'https:']),
    workspacesMaxBytes: int('WORKSPACES_MAX_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    nodeLookupUrl: url('NODE_LOOKUP_URL', ['http:', 'https:']),
    nodeBatchWindowMs,
    nodeBatchMaxWaitMs,
    logLevel,
    apiKey: demo ? demo.apiKey : str('API_KEY'),
    channels,
    limits: {
      maxFrameBytes: int('MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      pingIntervalMs: int('PING_INTERVAL_MS', 25_000, 100),
      pongTimeoutMs: int('PONG_TIMEOUT_MS', 10_000, 100),
      shutdownReconnectWindowMs: int('SHUTDOWN_RECONNECT_WINDOW_MS', 10_000, 0, 600_000),
      sessionRate: int('SESSION_RATE', 30, 1),
      sessionBurst: int('SESSION_BURST', 20, 1),
      sessionQueueMax: int('SESSION_QUEUE_MAX', 500, 1),
      sessionMaxBufferedBytes: int('SESSION_MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 1024),
      clientFrameRate: int('CLIENT_FRAME_RATE', 20, 1),
      clientFrameBurst: int('CLIENT_FRAME_BURST', 40, 1),
      silentRate: int('SILENT_RATE', 20, 1),
      silentBurst: int('SILENT_BURST', 10, 1),
      maxPendingNodes: int('MAX_PENDING_NODES', 10_000, 1),
      publishBodyBytes: int('PUBLISH_BODY_BYTES', 1024 * 1024, 1024),
      maxEventBytes: int('MAX_EVENT_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
      maxJsonDepth: int('MAX_JSON_DEPTH', 32, 4, 1000),
      maxConnections: int('MAX_CONNECTIONS', 20_000),
      maxConnectionsPerAddress: int('MAX_CONNECTIONS_PER_ADDRESS', 1000),
      maxSessionsPerUser: int('MAX_SESSIONS_PER_USER', 100),
      subscribeTimeoutMs: int('SUBSCRIBE_TIMEOUT_MS', 10_000, 100, 600_000),
    },
    allowedOrigins,
    http: { headersTimeoutMs: httpHeadersTimeoutMs, requestTimeoutMs: httpRequestTimeoutMs },
    memory: {
      budgetMb: str('MEMORY_BUDGET_MB') === undefined ? undefined : int('MEMORY_BUDGET_MB', 0, 0, 1024 * 1024),
      marginPercent: int('MEMORY_MARGIN_PERCENT', 15, 0, 90),
    },
    chat: {
      nodeAuthUrl: url('CHAT_NODE_AUTH_URL', ['http:', 'https:']),
      nodeAuthMaxBytes: int('CHAT_NODE_AUTH_MAX_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      historyMaxBytes: int('CHAT_HISTORY_MAX_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
      nodeAuthCacheSeconds: int('CHAT_NODE_AUTH_CACHE_SECONDS', 10, 0, 3600),
      keyPrefix: chatKeyPrefix,
      maxMessageLength: int('CHAT_MAX_MESSAGE_LENGTH', 4000, 1),
      historyLimit: int('CHAT_HISTORY_LIMIT', 1000, 1),
      maxRoomsPerSession: int('CHAT_MAX_ROOMS_PER_SESSION', 50, 1),
      presenceTimeoutMs: int('CHAT_PRESENCE_TIMEOUT_MS', 20_000, 100),
      roomUpdateWindowMs: int('CHAT_ROOM_UPDATE_WINDOW_MS', 250, 0, 10_000),
      messageRate: int('CHAT_MESSAGE_RATE', 10, 1),
      userMessageRate: int('CHAT_USER_MESSAGE_RATE', 10, 1),
      userJoinRate: int('CHAT_USER_JOIN_RATE', 10, 1),
      roomCreateLimit: int('CHAT_ROOM_CREATE_LIMIT', 100, 1),
      roomCreateWindowSeconds: int('CHAT_ROOM_CREATE_WINDOW_SECONDS', 3600, 1, 86_400 * 30),
      roomTtlSeconds: int('CHAT_ROOM_TTL_SECONDS', 7 * 86_400, 1, 86_400 * 3650),
    },
    push: {
      openRooms,
      maxRoomsPerSession: int('PUSH_MAX_ROOMS_PER_SESSION', 50, 1),
      coalesceMaxMs: int('PUSH_COALESCE_MAX_MS', 5000, 1, 3_600_000),
    },
    taskCoalesceMs: int('TASK_COALESCE_MS', 200, 0, 60_000),
    history: {
      key: channel('HISTORY_KEY', 'switchboard:history'),
      maxLength: historyMaxLength,
      ttlSeconds: int('HISTORY_TTL_SECONDS', 300, 1, 7 * 86_400),
      replayMaxEvents: int('HISTORY_REPLAY_MAX_EVENTS', 1000, 0, 100_000),
      replayMaxBytes: int('HISTORY_REPLAY_MAX_BYTES', 1024 * 1024, 0, 256 * 1024 * 1024),
      replayScanMax: int('HISTORY_REPLAY_SCAN_MAX', historyMaxLength, 1, 10_000_000),
      replayTimeoutMs: int('HISTORY_REPLAY_TIMEOUT_MS', 15_000, 100, 600_000),
      replayConcurrency: int('HISTORY_REPLAY_CONCURRENCY', 8, 1, 1000),
      replayQueueMax: int('HISTORY_REPLAY_QUEUE_MAX', 10_000, 0, 1_000_000),
      cacheBytes: int('HISTORY_CACHE_BYTES', 32 * 1024 * 1024, 0, 4 * 1024 * 1024 * 1024),
      leaseMs: int('HISTORY_LEASE_MS', 3000, 300, 60_000),
    },
    calls,
    admin,
    shutdownGraceMs: int('SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    demo: demo && { dir: demo.dir, tokenSeconds: demo.tokenSeconds },
  };

  /** `host:port,...` (IPv6 as `[addr]:port`); a missing port is `defaultPort`. */
  function addresses(name: string, defaultPort: number): RedisAddress[] {
    const entries = list(name);
    if (entries.length === 0) throw new ConfigError(`${name} must list host:port entries separated by commas`);
    return entries.map((entry) => {
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d+))?$/.exec(entry);
      const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
      if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new ConfigError(`${name} must list host:port entries separated by commas, got "${entry}"`);
      }
      return { host: m[1] ?? m[2], port };
    });
  }

  function redisTarget(): RedisTarget | undefined {
    const given = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter((name) => str(name) !== undefined);
    if (given.length > 1) throw new ConfigError(`set one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES, got ${given.join(' and ')}`);
    const mode = given[0];
    // Variables of another mode are refused rather than ignored: a password that is silently unused is a bad surprise.
    const onlyWith = (names: string[], allowed: string[], how: string) => {
      for (const name of names) if (str(name) !== undefined && !allowed.includes(mode ?? '')) throw new ConfigError(`${name} is for ${how}; unset it`);
    };
    onlyWith(['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_TLS', 'REDIS_DB'], ['REDIS_SENTINELS'], 'REDIS_SENTINELS');
    onlyWith(['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'], ['REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'], 'REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL they go in the URL: rediss://user:password@host:port)');
    const node = (): RedisAuth => ({ username: str('REDIS_USERNAME'), password: env.REDIS_PASSWORD || undefined, tls: bool('REDIS_TLS', false) });
    switch (mode) {
      case undefined:
        return undefined;
      case 'REDIS_URL':
        return { mode: 'standalone', url: url('REDIS_URL', ['redis:', 'rediss:'])! };
      case 'REDIS_SENTINELS': {
        const name = str('REDIS_SENTINEL_NAME');
        if (!name) throw new ConfigError('REDIS_SENTINEL_NAME must name the master group the sentinels watch (their "sentinel monitor <name>")');
        const sentinel: RedisAuth = { username: str('REDIS_SENTINEL_USERNAME'), password: env.REDIS_SENTINEL_PASSWORD || undefined, tls: bool('REDIS_SENTINEL_TLS', false) };
        return { mode: 'sentinel', sentinels: addresses('REDIS_SENTINELS', 26379), name, db: int('REDIS_DB', 0), node: node(), sentinel };
      }
      default:
        return { mode: 'cluster', nodes: addresses('REDIS_CLUSTER_NODES', 6379), node: node() };
    }
  }

  function callsConfig(): Config['calls'] {
    const routes = new Map<string, string>();
    // `method=url` pairs, separated by commas or white space (a comma inside a URL: %2C).
    for (const pair of (str('CALL_ROUTES') ?? '').split(/[\s,]+/).filter(Boolean)) {
      const at = pair.indexOf('=');
      const method = pair.slice(0, Math.max(at, 0));
      if (!CALL_METHOD.test(method)) throw new ConfigError(`CALL_ROUTES: "${pair.slice(0, 80)}" is not method=url with a method of ${CALL_METHOD}`);
      if (routes.has(method)) throw new ConfigError(`CALL_ROUTES: method "${method}" is given twice`);
      let target: URL;
      try {
        target = new URL(pair.slice(at + 1));
      } catch {
        throw new ConfigError(`CALL_ROUTES: the URL of "${method}" is not a URL`);
      }
      if (!['http:', 'https:'].includes(target.protocol)) throw new ConfigError(`CALL_ROUTES: the URL of "${method}" must use http: or https:`);
      if (target.username || target.password) throw new ConfigError(`CALL_ROUTES: the URL of "${method}" must not carry credentials`);
      routes.set(method, target.href);
    }
    const signingSecret = str('CALL_SIGNING_SECRET');
    if (routes.size && !signingSecret) throw new ConfigError('CALL_ROUTES needs CALL_SIGNING_SECRET (the key of the identity token sent to the backends)');
    if (signingSecret !== undefined && Buffer.byteLength(signingSecret) < 32) throw new ConfigError('CALL_SIGNING_SECRET must be at least 32 bytes');
    if (signingSecret !== undefined && signingSecret === str('JWT_SECRET')) throw new ConfigError('CALL_SIGNING_SECRET must differ from JWT_SECRET (a backend could otherwise mint subscribe tokens)');
    // A result must fit the session's unsent-bytes bound with room to spare, or it would close
    // the session as a slow consumer: by default 256 KiB, less when that bound is small.
    const halfBuffered = Math.floor(int('SESSION_MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 1024) / 2);
    const maxResponseBytes = int('CALL_MAX_RESPONSE_BYTES', Math.min(256 * 1024, halfBuffered), 1, 16 * 1024 * 1024);
    if (maxResponseBytes > halfBuffered) {
      throw new ConfigError('CALL_MAX_RESPONSE_BYTES must be at most half of SESSION_MAX_BUFFERED_BYTES (a result would close the session as a slow consumer)');
    }
    return {
      routes,
      signingSecret,
      issuer: str('CALL_TOKEN_ISSUER') ?? 'switchboard',
      timeoutMs: int('CALL_TIMEOUT_MS', 5000, 100, 120_000),
      maxPerSession: int('CALL_MAX_PER_SESSION', 4, 1, 1000),
      maxInFlight: int('CALL_MAX_IN_FLIGHT', 256, 1, 100_000),
      maxResponseBytes,
    };
  }

  function adminConfig(): Config['admin'] {
    const apiKey = str('ADMIN_API_KEY');
    if (apiKey !== undefined && apiKey.length < 16) throw new ConfigError('ADMIN_API_KEY must be at least 16 characters');
    // The publish key is handed to every backend that publishes; it must not also cut sessions.
    if (apiKey !== undefined && apiKey === str('API_KEY')) throw new ConfigError('ADMIN_API_KEY must differ from API_KEY');
    return { apiKey, channel: channel('ADMIN_CHANNEL', 'switchboard.admin'), timeoutMs: int('ADMIN_TIMEOUT_MS', 1000, 50, 30_000) };
  }

  /**
   * The demo mints tokens and hands its API key to whoever asks: it must share nothing with a
   * deployment. It generates its own secret and key at start, and refuses to start next to
   * anything of a deployment's (its Redis, secrets, keys, identity provider, HTTP endpoints,
   * which would receive demo tokens) or on an address other than loopback.
   */
  function demoMode(): (NonNullable<Config['demo']> & { secret: string; apiKey: string }) | undefined {
    const raw = str('DEMO_MODE');
    if (raw === undefined || raw === 'false') return undefined;
    if (raw !== 'true') throw new ConfigError(`DEMO_MODE must be true or false, got "${raw}"`);
    const shared = DEMO_REFUSES.filter((name) => str(name) !== undefined);
    if (shared.length) throw new ConfigError(`DEMO_MODE=true generates its own secret and key and runs alone: unset ${shared.join(', ')}`);
    const host = str('HOST');
    if (host !== undefined && !isLoopback(host)) throw new ConfigError(`DEMO_MODE=true listens on loopback only: HOST must be 127.0.0.1, ::1 or localhost, got "${host}"`);
    const fresh = () => `demo-${randomBytes(32).toString('hex')}`;
    return { dir: str('DEMO_DIR') ?? 'examples/web/dist', tokenSeconds: int('DEMO_TOKEN_SECONDS', 300, 10, 3600), secret: fresh(), apiKey: fresh() };
  }
}

/** What DEMO_MODE refuses to start next to: anything that belongs to a deployment. */
const DEMO_REFUSES = [
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_CLUSTER_NODES',
  'JWT_SECRET',
  'JWT_PUBLIC_KEY',
  'JWT_JWKS_URL',
  'API_KEY',
  'ADMIN_API_KEY',
  'CALL_ROUTES',
  'CALL_SIGNING_SECRET',
  'WORKSPACES_URL',
  'NODE_LOOKUP_URL',
  'CHAT_NODE_AUTH_URL',
];

/** 127.0.0.0/8, ::1 and localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

export const CONFIG = Symbol('CONFIG');
