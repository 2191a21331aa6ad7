import { describe, it, expect } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----';

/** Runs loadConfig and returns the ConfigError it threw (fails the test when it did not throw one). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it.each<[string, unknown, unknown]>([
    ['port', config.port, 5050],
    ['host', config.host, '::'],
    ['redis', config.redis, undefined],
    ['jwt.secret', config.jwt.secret, undefined],
    ['jwt.publicKey', config.jwt.publicKey, undefined],
    ['jwt.jwksUrl', config.jwt.jwksUrl, undefined],
    ['jwt.issuer', config.jwt.issuer, undefined],
    ['jwt.audience', config.jwt.audience, undefined],
    ['jwt.expiryGraceSeconds', config.jwt.expiryGraceSeconds, 30],
    ['jwt.renewBeforeSeconds', config.jwt.renewBeforeSeconds, 60],
    ['jwt.maxLifetimeSeconds', config.jwt.maxLifetimeSeconds, 86_400],
    ['workspacesUrl', config.workspacesUrl, undefined],
    ['nodeLookupUrl', config.nodeLookupUrl, undefined],
    ['nodeBatchWindowMs', config.nodeBatchWindowMs, 1000],
    ['nodeBatchMaxWaitMs', config.nodeBatchMaxWaitMs, 3000],
    ['logLevel', config.logLevel, 'info'],
    ['apiKey', config.apiKey, undefined],
    ['limits.maxFrameBytes', config.limits.maxFrameBytes, 64 * 1024],
    ['limits.pingIntervalMs', config.limits.pingIntervalMs, 25_000],
    ['limits.pongTimeoutMs', config.limits.pongTimeoutMs, 10_000],
    ['limits.sessionRate', config.limits.sessionRate, 30],
    ['limits.sessionBurst', config.limits.sessionBurst, 20],
    ['limits.silentRate', config.limits.silentRate, 20],
    ['limits.silentBurst', config.limits.silentBurst, 10],
    ['push.openRooms', config.push.openRooms, []],
    ['chat.userMessageRate', config.chat.userMessageRate, 10],
    ['chat.userJoinRate', config.chat.userJoinRate, 10],
    ['chat.roomCreateLimit', config.chat.roomCreateLimit, 100],
    ['chat.roomCreateWindowSeconds', config.chat.roomCreateWindowSeconds, 3600],
    ['chat.roomTtlSeconds', config.chat.roomTtlSeconds, 7 * 86_400],
    ['chat.nodeAuthCacheSeconds', config.chat.nodeAuthCacheSeconds, 10],
    ['chat.keyPrefix', config.chat.keyPrefix, 'switchboard:chat:'],
    ['jwt.allowWithoutExp', config.jwt.allowWithoutExp, false],
    ['jwt.loginCaseInsensitive', config.jwt.loginCaseInsensitive, false],
    ['redis', config.redis, undefined],
    ['limits.maxEventBytes', config.limits.maxEventBytes, 1024 * 1024],
    ['limits.maxJsonDepth', config.limits.maxJsonDepth, 32],
    ['limits.maxConnections', config.limits.maxConnections, 20_000],
    ['limits.maxConnectionsPerAddress', config.limits.maxConnectionsPerAddress, 1000],
    ['limits.maxSessionsPerUser', config.limits.maxSessionsPerUser, 100],
    ['limits.subscribeTimeoutMs', config.limits.subscribeTimeoutMs, 10_000],
    ['allowedOrigins', config.allowedOrigins, []],
    ['memory.budgetMb (the cgroup limit, read at start)', config.memory.budgetMb, undefined],
    ['memory.marginPercent', config.memory.marginPercent, 15],
    ['chat.historyMaxBytes', config.chat.historyMaxBytes, 1024 * 1024],
    ['chat.nodeAuthMaxBytes', config.chat.nodeAuthMaxBytes, 64 * 1024],
    ['workspacesMaxBytes', config.workspacesMaxBytes, 1024 * 1024],
    ['jwt.jwksMaxBytes', config.jwt.jwksMaxBytes, 256 * 1024],
    ['demo', config.demo, undefined],
    ['http.headersTimeoutMs', config.http.headersTimeoutMs, 10_000],
    ['http.requestTimeoutMs', config.http.requestTimeoutMs, 30_000],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it('uses the channel names of PROTOCOL 3', () => {
    expect(config.channels).toEqual({
      tree: 'topic.pydio.tree.nodes.changes',
      meta: 'topic.pydio.meta.nodes.changes',
      tasks: 'topic.pydio.tasks.event',
      idm: 'topic.pydio.idm.event',
      activity: 'topic.pydio.activity.event',
      chat: 'topic.pydio.chat.event',
      push: 'switchboard.push',
      pushCompat: 'BackgroundPush',
    });
  });

  it('treats empty and blank values as unset', () => {
    const c = loadConfig({ PORT: '', HOST: '   ', REDIS_URL: ' ', LOG_LEVEL: '' });
    expect([c.port, c.host, c.redis, c.logLevel]).toEqual([5050, '::', undefined, 'info']);
  });
});

describe('loadConfig values', () => {
  it.each<[string, Record<string, string>, (c: ReturnType<typeof loadConfig>) => unknown, unknown]>([
    ['PORT', { PORT: '8080' }, (c) => c.port, 8080],
    ['PORT 0 (any free port)', { PORT: '0' }, (c) => c.port, 0],
    ['PORT 65535', { PORT: '65535' }, (c) => c.port, 65535],
    ['HOST trimmed', { HOST: ' 0.0.0.0 ' }, (c) => c.host, '0.0.0.0'],
    ['REDIS_URL', { REDIS_URL: 'redis://localhost:6379' }, (c) => c.redis, { mode: 'standalone', url: 'redis://localhost:6379' }],
    ['REDIS_URL rediss', { REDIS_URL: 'rediss://h:6380/1' }, (c) => c.redis, { mode: 'standalone', url: 'rediss://h:6380/1' }],
    ['LOG_LEVEL lower-cased', { LOG_LEVEL: 'DEBUG' }, (c) => c.logLevel, 'debug'],
    ['JWT_JWKS_URL', { JWT_JWKS_URL: 'https://idp/jwks' }, (c) => c.jwt.jwksUrl, 'https://idp/jwks'],
    ['JWT_SECRET', { JWT_SECRET: 's3cret' }, (c) => c.jwt.secret, 's3cret'],
    ['NODE_BATCH_MAX_WAIT_MS equal to the window', { NODE_BATCH_WINDOW_MS: '2000', NODE_BATCH_MAX_WAIT_MS: '2000' }, (c) => [c.nodeBatchWindowMs, c.nodeBatchMaxWaitMs], [2000, 2000]],
    ['CHANNEL_TREE renamed', { CHANNEL_TREE: 'my.tree' }, (c) => c.channels.tree, 'my.tree'],
    ['PUSH_OPEN_ROOMS split on commas', { PUSH_OPEN_ROOMS: 'slidecast/*, lobby ,,news' }, (c) => c.push.openRooms, ['slidecast/*', 'lobby', 'news']],
    ['PUSH_OPEN_ROOMS single', { PUSH_OPEN_ROOMS: 'lobby' }, (c) => c.push.openRooms, ['lobby']],
    ['JWT_PUBLIC_KEY with escaped newlines', { JWT_PUBLIC_KEY: PEM.replace(/\n/g, '\\n') }, (c) => c.jwt.publicKey, PEM],
    ['JWT_PUBLIC_KEY with real newlines', { JWT_PUBLIC_KEY: PEM }, (c) => c.jwt.publicKey, PEM],
    ['ALLOW_TOKENS_WITHOUT_EXP true', { ALLOW_TOKENS_WITHOUT_EXP: 'true' }, (c) => c.jwt.allowWithoutExp, true],
    ['ALLOW_TOKENS_WITHOUT_EXP 0', { ALLOW_TOKENS_WITHOUT_EXP: '0' }, (c) => c.jwt.allowWithoutExp, false],
    ['ALLOWED_ORIGINS normalized', { ALLOWED_ORIGINS: 'https://A.example.com/, https://b.example.com' }, (c) => c.allowedOrigins, ['https://a.example.com', 'https://b.example.com']],
    ['ALLOWED_ORIGINS default ports left out', { ALLOWED_ORIGINS: 'https://ok.example:443,http://x:80,https://y:8443' }, (c) => c.allowedOrigins, ['https://ok.example', 'http://x', 'https://y:8443']],
    ['MEMORY_BUDGET_MB', { MEMORY_BUDGET_MB: '384' }, (c) => c.memory.budgetMb, 384],
    ['MEMORY_BUDGET_MB=0 (no budget)', { MEMORY_BUDGET_MB: '0' }, (c) => c.memory.budgetMb, 0],
    ['MAX_CONNECTIONS_PER_ADDRESS 0 (off)', { MAX_CONNECTIONS_PER_ADDRESS: '0' }, (c) => c.limits.maxConnectionsPerAddress, 0],
    ['HTTP timeouts', { HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '5000' }, (c) => c.http, { headersTimeoutMs: 5000, requestTimeoutMs: 5000 }],
  ])('%s', (_name, env, pick, expected) => {
    expect(pick(loadConfig(env))).toEqual(expected);
  });
});

describe('loadConfig refuses bad values, naming the variable', () => {
  it.each<[Record<string, string>, string]>([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ NODE_BATCH_WINDOW_MS: '2000', NODE_BATCH_MAX_WAIT_MS: '1000' }, 'NODE_BATCH_MAX_WAIT_MS'],
    [{ NODE_BATCH_MAX_WAIT_MS: '500' }, 'NODE_BATCH_MAX_WAIT_MS'],
    [{ NODE_BATCH_WINDOW_MS: 'soon' }, 'NODE_BATCH_WINDOW_MS'],
    [{ JWT_PUBLIC_KEY: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE' }, 'JWT_PUBLIC_KEY'],
    [{ JWT_JWKS_URL: 'notaurl' }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'ftp://idp/jwks' }, 'JWT_JWKS_URL'],
    [{ WORKSPACES_URL: 'redis://x' }, 'WORKSPACES_URL'],
    [{ CHAT_NODE_AUTH_URL: 'nope' }, 'CHAT_NODE_AUTH_URL'],
    [{ CHANNEL_TREE: 'topic tree' }, 'CHANNEL_TREE'],
    [{ CHANNEL_PUSH: 'switch\tboard' }, 'CHANNEL_PUSH'],
    [{ CHANNEL_PUSH: 'topic.pydio.tree.nodes.changes' }, 'CHANNEL_* names must differ'],
    [{ CHANNEL_IDM: 'x', CHANNEL_CHAT: 'x' }, 'CHANNEL_* names must differ'],
    [{ TOKEN_EXPIRY_GRACE_SECONDS: '-5' }, 'TOKEN_EXPIRY_GRACE_SECONDS'],
    [{ TOKEN_RENEW_BEFORE_SECONDS: 'soon' }, 'TOKEN_RENEW_BEFORE_SECONDS'],
    [{ TOKEN_MAX_LIFETIME_SECONDS: '10' }, 'TOKEN_MAX_LIFETIME_SECONDS'],
    [{ NODE_LOOKUP_URL: 'redis://x' }, 'NODE_LOOKUP_URL'],
    [{ SESSION_RATE: '0' }, 'SESSION_RATE'],
    [{ SESSION_QUEUE_MAX: 'many' }, 'SESSION_QUEUE_MAX'],
    [{ MAX_FRAME_BYTES: '10' }, 'MAX_FRAME_BYTES'],
    [{ SHUTDOWN_GRACE_MS: '1e9' }, 'SHUTDOWN_GRACE_MS'],
    [{ CHAT_USER_MESSAGE_RATE: '0' }, 'CHAT_USER_MESSAGE_RATE'],
    [{ CHAT_USER_JOIN_RATE: 'fast' }, 'CHAT_USER_JOIN_RATE'],
    [{ CHAT_ROOM_CREATE_LIMIT: '0' }, 'CHAT_ROOM_CREATE_LIMIT'],
    [{ CHAT_ROOM_TTL_SECONDS: '0' }, 'CHAT_ROOM_TTL_SECONDS'],
    [{ CHAT_NODE_AUTH_CACHE_SECONDS: '-1' }, 'CHAT_NODE_AUTH_CACHE_SECONDS'],
    [{ CHAT_KEY_PREFIX: 'chat keys' }, 'CHAT_KEY_PREFIX'],
    [{ ALLOW_TOKENS_WITHOUT_EXP: 'maybe' }, 'ALLOW_TOKENS_WITHOUT_EXP'],
    [{ MAX_JSON_DEPTH: '2' }, 'MAX_JSON_DEPTH'],
    [{ MAX_EVENT_BYTES: '10' }, 'MAX_EVENT_BYTES'],
    [{ SUBSCRIBE_TIMEOUT_MS: '0' }, 'SUBSCRIBE_TIMEOUT_MS'],
    [{ MAX_CONNECTIONS: '-1' }, 'MAX_CONNECTIONS'],
    [{ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' }, 'HTTP_REQUEST_TIMEOUT_MS'],
    [{ ALLOWED_ORIGINS: 'https://ok.example/app' }, 'ALLOWED_ORIGINS'],
    [{ ALLOWED_ORIGINS: 'ok.example' }, 'ALLOWED_ORIGINS'],
    [{ ALLOWED_ORIGINS: 'null' }, 'ALLOWED_ORIGINS'],
    [{ MEMORY_BUDGET_MB: 'lots' }, 'MEMORY_BUDGET_MB'],
    [{ MEMORY_MARGIN_PERCENT: '95' }, 'MEMORY_MARGIN_PERCENT'],
    [{ CHAT_HISTORY_MAX_BYTES: '10' }, 'CHAT_HISTORY_MAX_BYTES'],
    [{ CHAT_NODE_AUTH_MAX_BYTES: '-1' }, 'CHAT_NODE_AUTH_MAX_BYTES'],
    [{ WORKSPACES_MAX_BYTES: 'big' }, 'WORKSPACES_MAX_BYTES'],
    [{ JWT_JWKS_MAX_BYTES: '0' }, 'JWT_JWKS_MAX_BYTES'],
  ])('%j', (env, variable) => {
    expect(configError(env).message).toContain(variable);
  });
});

describe('loadConfig: where Redis is', () => {
  const noAuth = { username: undefined, password: undefined, tls: false };
  it.each<[string, Record<string, string>, unknown]>([
    ['none', {}, undefined],
    ['REDIS_URL', { REDIS_URL: 'rediss://u:p@h:6380/2' }, { mode: 'standalone', url: 'rediss://u:p@h:6380/2' }],
    [
      'REDIS_SENTINELS with the defaults',
      { REDIS_SENTINELS: 's1:26379, s2 ,[::1]:26380', REDIS_SENTINEL_NAME: 'mymaster' },
      {
        mode: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        name: 'mymaster',
        db: 0,
        node: noAuth,
        sentinel: noAuth,
      },
    ],
    [
      'REDIS_SENTINELS with credentials and TLS for both',
      {
        REDIS_SENTINELS: 's1:5000',
        REDIS_SENTINEL_NAME: 'm',
        REDIS_DB: '3',
        REDIS_USERNAME: 'app',
        REDIS_PASSWORD: ' pass word ',
        REDIS_TLS: 'true',
        REDIS_SENTINEL_USERNAME: 'sen',
        REDIS_SENTINEL_PASSWORD: 'spw',
        REDIS_SENTINEL_TLS: 'yes',
      },
      {
        mode: 'sentinel',
        sentinels: [{ host: 's1', port: 5000 }],
        name: 'm',
        db: 3,
        node: { username: 'app', password: ' pass word ', tls: true },
        sentinel: { username: 'sen', password: 'spw', tls: true },
      },
    ],
    [
      'REDIS_CLUSTER_NODES',
      { REDIS_CLUSTER_NODES: 'n1:7000,n2', REDIS_PASSWORD: 'pw', REDIS_TLS: '1' },
      {
        mode: 'cluster',
        nodes: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 6379 },
        ],
        node: { username: undefined, password: 'pw', tls: true },
      },
    ],
  ])('%s', (_name, env, expected) => {
    expect(loadConfig(env).redis).toEqual(expected);
  });

  it.each<[Record<string, string>, string]>([
    [{ REDIS_URL: 'redis://h', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_URL and REDIS_SENTINELS'],
    [{ REDIS_URL: 'redis://h', REDIS_CLUSTER_NODES: 'n:1' }, 'REDIS_URL and REDIS_CLUSTER_NODES'],
    [{ REDIS_SENTINELS: 's:1', REDIS_CLUSTER_NODES: 'n:1' }, 'REDIS_SENTINELS and REDIS_CLUSTER_NODES'],
    [{ REDIS_SENTINELS: 's:1' }, 'REDIS_SENTINEL_NAME'],
    [{ REDIS_SENTINELS: 's:0', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's:70000', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's:port', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: ',', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_CLUSTER_NODES: 'redis://n:1' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'n 1:2' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: '[::1:2' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME'],
    [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_SENTINEL_PASSWORD: 'x' }, 'REDIS_SENTINEL_PASSWORD'],
    [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_DB: '1' }, 'REDIS_DB'],
    [{ REDIS_URL: 'redis://h', REDIS_PASSWORD: 'x' }, 'REDIS_PASSWORD'],
    [{ REDIS_URL: 'redis://h', REDIS_TLS: 'true' }, 'REDIS_TLS'],
    [{ REDIS_USERNAME: 'u' }, 'REDIS_USERNAME'],
    [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_TLS: 'sometimes' }, 'REDIS_TLS'],
    [{ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_TLS: 'on' }, 'REDIS_SENTINEL_TLS'],
    [{ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_DB: '-1' }, 'REDIS_DB'],
    [{ CHAT_KEY_PREFIX: 'chat:{x}:' }, 'CHAT_KEY_PREFIX'],
    [{ LOGIN_CASE_INSENSITIVE: 'perhaps' }, 'LOGIN_CASE_INSENSITIVE'],
  ])('%j', (env, named) => {
    expect(configError(env).message).toContain(named);
  });
});

describe('DEMO_MODE cannot reach production', () => {
  // Each of these is a deployment's: the demo, which mints tokens and hands out its API key, refuses to start next to it.
  it.each<[Record<string, string>, string]>([
    [{ REDIS_URL: 'redis://redis.prod:6379' }, 'REDIS_URL'],
    [{ REDIS_SENTINELS: 'sentinel.prod:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_CLUSTER_NODES: 'redis.prod:7000' }, 'REDIS_CLUSTER_NODES'],
    [{ ADMIN_API_KEY: 'the-production-admin-key' }, 'ADMIN_API_KEY'],
    [{ JWT_SECRET: 'the-production-secret' }, 'JWT_SECRET'],
    [{ API_KEY: 'the-production-key' }, 'API_KEY'],
    [{ JWT_PUBLIC_KEY: PEM }, 'JWT_PUBLIC_KEY'],
    [{ JWT_JWKS_URL: 'https://idp.example/jwks' }, 'JWT_JWKS_URL'],
    [{ WORKSPACES_URL: 'https://cells.example/ws' }, 'WORKSPACES_URL'],
    [{ NODE_LOOKUP_URL: 'https://cells.example/node' }, 'NODE_LOOKUP_URL'],
    [{ CHAT_NODE_AUTH_URL: 'https://cells.example/auth' }, 'CHAT_NODE_AUTH_URL'],
    [{ REDIS_URL: 'redis://redis.prod:6379', JWT_SECRET: 'the-production-secret' }, 'unset REDIS_URL, JWT_SECRET'],
    [{ HOST: '::' }, 'HOST'],
    [{ HOST: '0.0.0.0' }, 'HOST'],
    [{ HOST: '10.0.0.5' }, 'HOST'],
    [{ HOST: 'push.example.com' }, 'HOST'],
  ])('refuses DEMO_MODE=true with %j', (env, message) => {
    expect(configError({ DEMO_MODE: 'true', ...env }).message).toContain(message);
  });

  it.each<[string | undefined, string]>([
    [undefined, '127.0.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['127.1.2.3', '127.1.2.3'],
    ['::1', '::1'],
    ['localhost', 'localhost'],
  ])('listens on loopback only: HOST %p -> %p', (host, expected) => {
    expect(loadConfig({ DEMO_MODE: 'true', ...(host && { HOST: host }) }).host).toBe(expected);
  });

  it('generates its own JWT secret and API key at each start, never read from the environment', () => {
    const [a, b] = [loadConfig({ DEMO_MODE: 'true' }), loadConfig({ DEMO_MODE: 'true' })];
    for (const c of [a, b]) {
      expect(c.jwt.secret).toMatch(/^demo-[0-9a-f]{64}$/);
      expect(c.apiKey).toMatch(/^demo-[0-9a-f]{64}$/);
    }
    expect(new Set([a.jwt.secret, b.jwt.secret, a.apiKey, b.apiKey]).size).toBe(4);
  });

  it('off: none of this applies', () => {
    expect(loadConfig({ DEMO_MODE: 'false', REDIS_URL: 'redis://x:6379', JWT_SECRET: 's', HOST: '::' })).toMatchObject({ demo: undefined, jwt: { secret: 's' }, host: '::' });
  });
});
