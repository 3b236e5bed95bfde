/** Every default in one place, with units in the names (DESIGN.md §10). */
export const DEFAULTS = {
  home: '~/.keyward',
  configFile: 'tools.config.json',
  upstream: {
    connectTimeoutMs: 3_000,
    headersTimeoutMs: 10_000,
    totalTimeoutMs: 30_000,
    maxResponseBytes: 1024 * 1024,
    /** Per-origin circuit breaker: ≥ 50 % failures over ≥ 20 calls in 10 s opens it for 30 s. */
    breaker: { threshold: 0.5, minimumCalls: 20, windowSeconds: 10, openSeconds: 30 },
  },
  backend: { timeoutMs: 2_000, retries: 2, staleSeconds: 60 },
  cache: { ttlSeconds: 60, maxTtlSeconds: 300, expirySkewMs: 5_000 },
  file: { storePath: '~/.keyward/secrets.enc', keyPath: '~/.keyward/master.key' },
  audit: { sqlitePath: '~/.keyward/audit.db', writeTimeoutMs: 2_000 },
  grants: { ttlSeconds: 900, sqlitePath: '~/.keyward/grants.db' },
  http: {
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
  identity: { maxTokenLifetimeSeconds: 86_400 },
  /** Per-user OAuth connections: a link lives 10 min, a consent 10 min, a call waits 5 min. */
  connections: { timeoutMs: 5_000, linkTtlSeconds: 600, stateTtlSeconds: 600, waitSeconds: 300 },
  policy: { metaToolRateLimit: { requests: 30, perSeconds: 60 } },
} as const;
