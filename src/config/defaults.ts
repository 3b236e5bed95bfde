/**
 * Every default in one place, with units in the names (DESIGN.md §10). `config/schema.ts` refers to
 * these and states no default of its own (besides empty lists and maps), so docs/configuration.md,
 * generated from the schema, shows the values the code uses.
 */
export const DEFAULTS = {
  home: '~/.keyward',
  configFile: 'tools.config.json',
  agent: { tenant: 'default' },
  identity: {
    maxTokenLifetimeSeconds: 86_400,
    jwt: {
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      clockToleranceSeconds: 30,
      claims: { agent: 'sub', tenant: 'tenant', roles: 'roles', user: 'sub' },
    },
  },
  upstream: {
    connectTimeoutMs: 3_000,
    headersTimeoutMs: 10_000,
    totalTimeoutMs: 30_000,
    maxResponseBytes: 1024 * 1024,
    /** Per-origin circuit breaker: ≥ 50 % failures over ≥ 20 calls in 10 s opens it for 30 s. */
    breaker: { threshold: 0.5, minimumCalls: 20, windowSeconds: 10, openSeconds: 30 },
  },
  backend: { timeoutMs: 2_000, retries: 2, staleSeconds: 60 },
  cache: {
    ttlSeconds: 60,
    maxTtlSeconds: 300,
    expirySkewMs: 5_000,
    type: 'memory',
    maxEntries: 10_000,
    redis: { keyPrefix: 'keyward:', commandTimeoutMs: 500 },
  },
  file: { storePath: '~/.keyward/secrets.enc', keyPath: '~/.keyward/master.key', createIfMissing: false },
  vault: {
    mount: 'secret',
    kvVersion: 2,
    appRoleMount: 'approle',
    tlsRejectUnauthorized: true,
    renewBeforeSeconds: 30,
  },
  env: { prefix: 'KEYWARD_SECRET_' },
  inject: {
    headerFormat: '{value}',
    usernameField: 'username',
    passwordField: 'password',
    clientIdField: 'client_id',
    clientSecretField: 'client_secret',
    refreshTokenField: 'refresh_token',
    clientAuth: 'basic',
    refreshSkewSeconds: 30,
  },
  tool: { description: '', input: { type: 'object', properties: {} } },
  audit: {
    type: 'sqlite',
    sqlitePath: '~/.keyward/audit.db',
    writeTimeoutMs: 2_000,
    checkpointIntervalSeconds: 60,
    postgresSchema: 'keyward',
  },
  grants: { ttlSeconds: 900, store: 'sqlite', sqlitePath: '~/.keyward/grants.db' },
  http: {
    host: '127.0.0.1',
    port: 8787,
    maxBodyBytes: 1024 * 1024,
    maxArgumentsBytes: 64 * 1024,
    sessionIdleSeconds: 1800,
    maxSessions: 1000,
    maxSessionsPerPrincipal: 32,
    maxInFlightPerPrincipal: 16,
    maxConnections: 1024,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    /** Resumable streams: events kept 5 min, 4 MiB per session, 64 MiB in all (memory), retry 1 s. */
    streams: {
      resumable: true,
      eventTtlSeconds: 300,
      maxSessionBytes: 4 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      retryMs: 1_000,
      pollAfterSeconds: 0,
    },
  },
  shutdown: { drainMs: 20_000 },
  /** An operator's console sign-in (8 h) and a call waiting on the console after a URL elicitation. */
  console: { sessionTtlSeconds: 8 * 3600, waitSeconds: 300 },
  /** Per-user OAuth connections: a link lives 10 min, a consent 10 min, a call waits 5 min. */
  connections: {
    timeoutMs: 5_000,
    linkTtlSeconds: 600,
    stateTtlSeconds: 600,
    waitSeconds: 300,
    clientAuth: 'basic',
    verifyUser: 'signIn',
    userClaim: 'sub',
    refreshSkewSeconds: 60,
    defaultLifetimeSeconds: 0,
    signInScopes: ['openid'],
  },
  policy: {
    hideUnusableTools: true,
    metaTools: true,
    metaToolRateLimit: { requests: 30, perSeconds: 60 },
    rateLimitPer: 'permission',
  },
  notifier: { webhook: { timeoutMs: 3_000, retries: 2 }, repeatedDenials: { count: 5, windowSeconds: 60 } },
  logging: { level: 'info' },
} as const;
