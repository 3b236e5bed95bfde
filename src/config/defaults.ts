/**
 * Every default, with units in the names (DESIGN.md §10), stated once. The defaults of a plugin
 * kind's fields are stated in that kind's schema fragment, beside its fields (e.g. `mount` in
 * secrets/vault/vault-config.ts); this object refers to them, so DEFAULTS stays the one place code
 * reads a default from, and states the rest itself (which kind is the default, cross-cutting
 * limits). `config/schema.ts` and the fragments state no default of their own (besides empty lists
 * and maps), so docs/configuration.md, generated from the schema, shows the values the code uses.
 */
import { AUDIT_DEFAULTS } from '../audit/audit-config.js';
import { POSTGRES_AUDIT_DEFAULTS } from '../audit/postgres/postgres-config.js';
import { SQLITE_AUDIT_DEFAULTS } from '../audit/sqlite/sqlite-config.js';
import { MEMORY_CACHE_DEFAULTS } from '../cache/memory/memory-config.js';
import { REDIS_CACHE_DEFAULTS } from '../cache/redis/redis-config.js';
import { CONNECTIONS_DEFAULTS } from '../connections/connections-config.js';
import { JWT_DEFAULTS } from '../identity/jwt-config.js';
import { GRANT_STORE_DEFAULTS } from '../policy/grant-store-config.js';
import { BACKEND_DEFAULTS } from '../secrets/backend-config.js';
import { ENV_BACKEND_DEFAULTS } from '../secrets/env/env-config.js';
import { FILE_BACKEND_DEFAULTS } from '../secrets/file/file-config.js';
import { VAULT_BACKEND_DEFAULTS } from '../secrets/vault/vault-config.js';
import { STREAMS_DEFAULTS } from '../transports/event-store/event-store-config.js';
import { INJECT_DEFAULTS } from '../upstream/inject-config.js';

export const DEFAULTS = {
  home: '~/.keyward',
  configFile: 'tools.config.json',
  agent: { tenant: 'default' },
  identity: { jwt: JWT_DEFAULTS },
  upstream: {
    connectTimeoutMs: 3_000,
    headersTimeoutMs: 10_000,
    totalTimeoutMs: 30_000,
    maxResponseBytes: 1024 * 1024,
    /** Bodies up to this size also go into structuredContent.body; larger ones only into the text. */
    structuredBodyMaxBytes: 64 * 1024,
    /** Per-origin circuit breaker: ≥ 50 % failures over ≥ 20 calls in 10 s opens it for 30 s. */
    breaker: { threshold: 0.5, minimumCalls: 20, windowSeconds: 10, openSeconds: 30 },
  },
  backend: BACKEND_DEFAULTS,
  cache: {
    ttlSeconds: 60,
    maxTtlSeconds: 300,
    expirySkewMs: 5_000,
    type: 'memory',
    ...MEMORY_CACHE_DEFAULTS,
    redis: REDIS_CACHE_DEFAULTS,
  },
  file: FILE_BACKEND_DEFAULTS,
  vault: VAULT_BACKEND_DEFAULTS,
  env: ENV_BACKEND_DEFAULTS,
  inject: INJECT_DEFAULTS,
  tool: { description: '', input: { type: 'object', properties: {} } },
  audit: { type: 'sqlite', ...AUDIT_DEFAULTS, ...SQLITE_AUDIT_DEFAULTS, ...POSTGRES_AUDIT_DEFAULTS },
  grants: { ttlSeconds: 900, ...GRANT_STORE_DEFAULTS },
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
    streams: STREAMS_DEFAULTS,
  },
  /**
   * stdio mode: calls running at once. A client can write requests faster than upstreams answer,
   * and stdin is paused only when stdout is full; above the bench's c64, below what a flood needs.
   */
  stdio: { maxInFlight: 128 },
  shutdown: { drainMs: 20_000 },
  /** An operator's console sign-in (8 h) and a call waiting on the console after a URL elicitation. */
  console: { sessionTtlSeconds: 8 * 3600, waitSeconds: 300 },
  connections: CONNECTIONS_DEFAULTS,
  policy: {
    hideUnusableTools: true,
    metaTools: true,
    metaToolRateLimit: { requests: 30, perSeconds: 60 },
    rateLimitPer: 'permission',
  },
  notifier: { webhook: { timeoutMs: 3_000, retries: 2 }, repeatedDenials: { count: 5, windowSeconds: 60 } },
  logging: { level: 'info' },
} as const;
