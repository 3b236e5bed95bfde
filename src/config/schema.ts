/**
 * The zod schema of tools.config.json (DESIGN.md §9). Secrets never appear here: only references
 * to files or environment variables (bootstrap values) and backend refs (API keys).
 * `keyward schema` prints the JSON Schema generated from this file for editor completion.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';

const name = z.string().min(1).max(128);
const toolName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'tool names must match [A-Za-z0-9_.-]{1,128} (MCP tool name rule)');

/** Where a bootstrap value (Vault token, AppRole ids, cache key) is read from. Never a literal. */
export const secretSourceSchema = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
]);
export type SecretSource = z.infer<typeof secretSourceSchema>;

export const agentSchema = z
  .object({
    roles: z.array(name).default([]),
    tenant: name.default('default'),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();

export const identitySchema = z
  .object({
    stdio: z
      .object({
        agent: name,
        /** The person this stdio agent acts for (`{user}` in refs, per-user OAuth connections). */
        user: name.optional(),
      })
      .strict()
      .optional(),
    tokens: z
      .array(
        z
          .object({
            agent: name,
            /** Hex SHA-256 of the token; `keyward tokens create` prints the token once and this hash. */
            sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters'),
            id: z.string().optional(),
            tenant: name.optional(),
            roles: z.array(name).optional(),
            /** The person this token's agent acts for (per-user OAuth connections). */
            user: name.optional(),
          })
          .strict(),
      )
      .default([]),
    jwt: z
      .object({
        issuers: z.array(z.string().url()).min(1),
        audience: z.string().min(1),
        jwksUri: z.string().url().optional(),
        jwksFile: z.string().optional(),
        algorithms: z
          .array(
            z.enum([
              'RS256',
              'RS384',
              'RS512',
              'PS256',
              'PS384',
              'PS512',
              'ES256',
              'ES384',
              'ES512',
              'EdDSA',
            ]),
          )
          .default(['RS256', 'ES256', 'EdDSA']),
        clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
        /** Longest accepted lifetime (`exp − iat`, or `exp − now` without `iat`); longer tokens get 401. */
        maxTokenLifetimeSeconds: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.identity.maxTokenLifetimeSeconds),
        /**
         * Where agent, tenant and roles come from. A mapped claim that is missing or not a safe name
         * is a 401, never a default. `null` for tenant or roles: taken from `agents.<sub>` (or
         * `default` / no roles) instead of the token.
         */
        claims: z
          .object({
            agent: z.string().default('sub'),
            tenant: z.string().nullable().default('tenant'),
            roles: z.string().nullable().default('roles'),
            /**
             * The person the agent acts for (`{user}`, per-user OAuth connections). A token whose
             * claim is missing or not a safe name has no user (its `{user}` refs resolve to nothing);
             * `null`: never a user.
             */
            user: z.string().nullable().default('sub'),
          })
          .strict()
          .default({ agent: 'sub', tenant: 'tenant', roles: 'roles', user: 'sub' }),
      })
      .strict()
      .optional(),
  })
  .strict()
  .default({ tokens: [] });

const backendCommon = {
  timeoutMs: z.number().int().positive().default(DEFAULTS.backend.timeoutMs),
  retries: z.number().int().min(0).max(5).default(DEFAULTS.backend.retries),
  /** How long past its cache TTL a value may be served while the backend is unavailable. */
  staleSeconds: z.number().int().min(0).max(3600).default(DEFAULTS.backend.staleSeconds),
};

export const fileBackendSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().default(DEFAULTS.file.storePath),
    keyPath: z.string().default(DEFAULTS.file.keyPath),
    /** Create the key file (0600) and an empty store on first use when neither exists. */
    createIfMissing: z.boolean().default(false),
    ...backendCommon,
  })
  .strict();

export const vaultBackendSchema = z
  .object({
    type: z.literal('vault'),
    address: z.string().url(),
    mount: z.string().default('secret'),
    kvVersion: z.literal(2).default(2),
    namespace: z.string().optional(),
    auth: z.discriminatedUnion('method', [
      z.object({ method: z.literal('token'), token: secretSourceSchema }).strict(),
      z
        .object({
          method: z.literal('approle'),
          mount: z.string().default('approle'),
          roleId: secretSourceSchema,
          secretId: secretSourceSchema,
        })
        .strict(),
    ]),
    tls: z
      .object({
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** Dynamic-secret paths (not KV): read as `GET /v1/<ref>`, leases renewed/re-issued. */
    dynamicMounts: z.array(z.string()).default([]),
    /** Renew (or re-issue) a Vault token or lease this long before it expires. */
    renewBeforeSeconds: z.number().int().min(0).max(3600).default(30),
    ...backendCommon,
  })
  .strict();

export const awsBackendSchema = z
  .object({
    type: z.literal('aws-secrets-manager'),
    region: z.string().min(1),
    endpoint: z.string().url().optional(),
    credentials: z
      .union([
        z.object({ profile: z.string() }).strict(),
        z
          .object({
            accessKeyId: secretSourceSchema,
            secretAccessKey: secretSourceSchema,
            sessionToken: secretSourceSchema.optional(),
          })
          .strict(),
      ])
      .optional(),
    ...backendCommon,
  })
  .strict();

export const envBackendSchema = z
  .object({ type: z.literal('env'), prefix: z.string().default('KEYWARD_SECRET_'), ...backendCommon })
  .strict();

export const backendSchema = z.discriminatedUnion('type', [
  fileBackendSchema,
  vaultBackendSchema,
  awsBackendSchema,
  envBackendSchema,
]);
export type BackendConfig = z.infer<typeof backendSchema>;

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name');

export const injectSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('header'),
      header: headerName,
      /** `{value}` is replaced by the secret, e.g. `Bearer {value}`. */
      format: z.string().includes('{value}').default('{value}'),
    })
    .strict(),
  z.object({ type: z.literal('bearer') }).strict(),
  z.object({ type: z.literal('query'), param: z.string().min(1) }).strict(),
  z
    .object({
      type: z.literal('basic'),
      /** Field of the secret holding the username; or a fixed, non-secret `username`. */
      usernameField: z.string().default('username'),
      username: z.string().optional(),
      passwordField: z.string().default('password'),
    })
    .strict(),
  z
    .object({
      type: z.literal('oauth2-client-credentials'),
      tokenUrl: z.string().url(),
      clientIdField: z.string().default('client_id'),
      clientSecretField: z.string().default('client_secret'),
      scopes: z.array(z.string()).default([]),
      audience: z.string().optional(),
      /** How the client authenticates to the token endpoint. */
      clientAuth: z.enum(['basic', 'body']).default('basic'),
      refreshSkewSeconds: z.number().int().min(0).default(30),
    })
    .strict(),
  z
    .object({
      type: z.literal('oauth2-refresh-token'),
      tokenUrl: z.string().url(),
      clientIdField: z.string().default('client_id'),
      clientSecretField: z.string().default('client_secret'),
      refreshTokenField: z.string().default('refresh_token'),
      scopes: z.array(z.string()).default([]),
      /** How the client authenticates to the token endpoint (public clients without a secret: body). */
      clientAuth: z.enum(['basic', 'body']).default('basic'),
      refreshSkewSeconds: z.number().int().min(0).default(30),
    })
    .strict(),
]);
export type InjectConfig = z.infer<typeof injectSchema>;

/** The DESIGN.md §9 shorthand `{ "header": …, "format": … }` / `{ "query": … }` without `type`. */
function normalizeInject(value: unknown): unknown {
  if (value && typeof value === 'object' && !('type' in value)) {
    const v = value as Record<string, unknown>;
    if ('header' in v) return { type: 'header', ...v };
    if ('query' in v) {
      const { query, ...rest } = v;
      return { type: 'query', param: query, ...rest };
    }
  }
  return value;
}

export const credentialSchema = z
  .object({
    backend: name,
    /**
     * Backend ref; may use `{tenant}`, `{agent}` and `{user}` from the authenticated principal, never
     * arguments. With `connection`: where keyward itself stores each user's tokens (must use `{user}`).
     */
    ref: z.string().min(1),
    /**
     * A user-delegated OAuth 2.0 credential (issue 16): the provider in `connections.providers`.
     * The value injected is the user's access token, obtained with authorization code + PKCE and
     * refreshed by keyward; `backend`/`ref` are its token vault.
     */
    connection: name.optional(),
    field: z.string().optional(),
    version: z.string().optional(),
    stage: z.string().optional(),
    inject: z.preprocess(normalizeInject, injectSchema),
    /** The only origins this credential is ever sent to (scheme://host[:port]). */
    origins: z.array(z.string().url()).min(1),
    cacheTtlSeconds: z
      .number()
      .int()
      .min(0)
      .max(DEFAULTS.cache.maxTtlSeconds)
      .default(DEFAULTS.cache.ttlSeconds),
  })
  .strict();
export type CredentialConfig = z.infer<typeof credentialSchema>;

const timeoutsSchema = z
  .object({
    connectMs: z.number().int().positive().default(DEFAULTS.upstream.connectTimeoutMs),
    headersMs: z.number().int().positive().default(DEFAULTS.upstream.headersTimeoutMs),
    totalMs: z.number().int().positive().default(DEFAULTS.upstream.totalTimeoutMs),
  })
  .strict();

const jsonSchemaObject = z
  .object({ type: z.literal('object') })
  .passthrough()
  .describe('JSON Schema of the tool arguments (type object); unknown keys are rejected');

export const toolSchema = z
  .object({
    title: z.string().optional(),
    description: z.string().max(4096).default(''),
    permission: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -'),
    credential: name.optional(),
    request: z
      .object({
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']),
        /** Absolute URL; `{param}` in the path is replaced by the argument, encoded as one segment. */
        url: z.string().url(),
        query: z.record(z.string(), z.string()).default({}),
        headers: z.record(headerName, z.string()).default({}),
        /** `"args"`: the arguments not used in path/query/headers as a JSON body; or a JSON template. */
        body: z.unknown().optional(),
      })
      .strict(),
    input: jsonSchemaObject.default({ type: 'object', properties: {} }),
    timeouts: timeoutsSchema.optional(),
    maxResponseBytes: z.number().int().positive().default(DEFAULTS.upstream.maxResponseBytes),
    /** Response headers passed back to the agent (lowercase names); all others are dropped. */
    responseHeaders: z.array(z.string()).optional(),
    fallback: z
      .union([z.object({ tool: toolName }).strict(), z.object({ result: z.unknown() }).strict()])
      .optional(),
    annotations: z
      .object({
        readOnlyHint: z.boolean().optional(),
        destructiveHint: z.boolean().optional(),
        idempotentHint: z.boolean().optional(),
        openWorldHint: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** Set by `keyward import openapi`: hash of the generated definition, to detect spec drift. */
    generated: z.object({ source: z.string(), sha256: z.string() }).strict().optional(),
  })
  .strict();
export type ToolConfig = z.infer<typeof toolSchema>;

export const toolSourceSchema = z
  .object({
    openapi: z.string().min(1),
    credential: name.optional(),
    tags: z.array(z.string()).optional(),
    operations: z.array(z.string()).optional(),
    permissionPrefix: z.string().optional(),
    baseUrl: z.string().url().optional(),
  })
  .strict();

const stringList = z.array(z.string().min(1));

export const ruleSchema = z
  .object({
    id: z.string().min(1),
    effect: z.enum(['allow', 'deny', 'approve']),
    agents: stringList.optional(),
    roles: stringList.optional(),
    tenants: stringList.optional(),
    tools: stringList.optional(),
    /** Permission patterns; `*` matches any run of characters (`github:*`). */
    permissions: stringList.optional(),
    /** A CEL condition over `principal`, `args`, `tool` and `permission`. */
    when: z.string().optional(),
    rateLimit: z
      .object({
        requests: z.number().int().positive(),
        perSeconds: z.number().positive(),
        per: z.enum(['permission', 'tool']).default('permission'),
      })
      .strict()
      .optional(),
    /** For `approve` rules: default and maximum lifetime of a grant. */
    grantTtlSeconds: z.number().int().positive().default(DEFAULTS.grants.ttlSeconds),
    maxGrantTtlSeconds: z.number().int().positive().optional(),
    grantMaxCalls: z.number().int().positive().optional(),
    /**
     * For `approve` rules: who may approve. `operator` (`keyward grants approve`, the console),
     * `elicitation` (the human in the MCP client) or `any`. Default: `operator` for principals
     * authenticated over HTTP (their MCP client may be the agent itself), `any` on stdio.
     */
    approval: z.enum(['operator', 'elicitation', 'any']).optional(),
    description: z.string().optional(),
  })
  .strict();
export type RuleConfig = z.infer<typeof ruleSchema>;

export const policySchema = z
  .object({
    rules: z.array(ruleSchema).default([]),
    /** Hide tools the principal can never use from tools/list. */
    hideUnusableTools: z.boolean().default(true),
    /** Expose list_capabilities and request_capability. */
    metaTools: z.boolean().default(true),
    /** Calls of list_capabilities and request_capability per principal (shared bucket). */
    metaToolRateLimit: z
      .object({ requests: z.number().int().positive(), perSeconds: z.number().positive() })
      .strict()
      .default(DEFAULTS.policy.metaToolRateLimit),
  })
  .strict()
  .default({
    rules: [],
    hideUnusableTools: true,
    metaTools: true,
    metaToolRateLimit: DEFAULTS.policy.metaToolRateLimit,
  });

export const cacheSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('memory'), maxEntries: z.number().int().positive().default(10_000) }).strict(),
    z
      .object({
        type: z.literal('redis'),
        url: z.string().min(1),
        keyPrefix: z.string().default('keyward:'),
        /** 32-byte AES key (base64 or hex) for cached values; Redis never sees it. */
        encryptionKey: secretSourceSchema.optional(),
        commandTimeoutMs: z.number().int().positive().default(500),
      })
      .strict(),
  ])
  .default({ type: 'memory', maxEntries: 10_000 });

/** Shared by both audit stores: the keyed chain and the checkpoints outside the database. */
const auditAnchor = {
  /** HMAC key of the chain and its checkpoints (32 bytes, hex or base64); never in the database. */
  chainKey: secretSourceSchema.optional(),
  /** The writer registry and signed heads (default: beside the SQLite file; for PostgreSQL, .keyward/ beside the config). */
  checkpoints: z.string().optional(),
  checkpointIntervalSeconds: z.number().int().positive().default(60),
};

export const auditSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('sqlite'),
        path: z.string().default(DEFAULTS.audit.sqlitePath),
        ...auditAnchor,
      })
      .strict(),
    z
      .object({
        ...auditAnchor,
        type: z.literal('postgres'),
        url: z.string().min(1),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default('keyward'),
        statementTimeoutMs: z.number().int().positive().default(DEFAULTS.audit.writeTimeoutMs),
        connectTimeoutMs: z.number().int().positive().default(DEFAULTS.audit.writeTimeoutMs),
      })
      .strict(),
  ])
  .default({ type: 'sqlite', path: DEFAULTS.audit.sqlitePath, checkpointIntervalSeconds: 60 });

export const grantsSchema = z
  .object({
    /** sqlite (default) shares grants and approvals with `keyward grants` in another process. */
    store: z.enum(['sqlite', 'memory', 'redis']).default('sqlite'),
    path: z.string().default(DEFAULTS.grants.sqlitePath),
  })
  .strict()
  .default({ store: 'sqlite', path: DEFAULTS.grants.sqlitePath });

export const httpServerSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8787),
    /** The public URL of /mcp (the JWT audience and RFC 9728 resource). */
    publicUrl: z.string().url().optional(),
    allowedHosts: z.array(z.string()).optional(),
    allowedOrigins: z.array(z.string()).default([]),
    maxBodyBytes: z.number().int().positive().default(DEFAULTS.http.maxBodyBytes),
    sessionIdleSeconds: z.number().int().positive().default(DEFAULTS.http.sessionIdleSeconds),
    maxSessions: z.number().int().positive().default(DEFAULTS.http.maxSessions),
    /** Sessions one principal (agent and tenant) may hold; beyond: 429. */
    maxSessionsPerPrincipal: z.number().int().positive().default(DEFAULTS.http.maxSessionsPerPrincipal),
    /** Tool calls one principal may run at once across sessions and batches; beyond: rate_limited / 429. */
    maxInFlightPerPrincipal: z.number().int().positive().default(DEFAULTS.http.maxInFlightPerPrincipal),
    /** Open TCP connections; beyond, new ones are closed at once. */
    maxConnections: z.number().int().positive().default(DEFAULTS.http.maxConnections),
    /** A connection that has not sent its headers by then is closed (slow-header attack). */
    headersTimeoutMs: z.number().int().positive().default(DEFAULTS.http.headersTimeoutMs),
    /** A request (headers and body) not received by then is cut (trickling bodies). */
    requestTimeoutMs: z.number().int().positive().default(DEFAULTS.http.requestTimeoutMs),
    /** When set, GET /metrics needs `Authorization: Bearer <this token>` (tool names are operator data). */
    metricsToken: secretSourceSchema.optional(),
    /** Name tools in /metrics labels. Default: only when metricsToken is set (else `tool="*"`). */
    metricsToolNames: z.boolean().optional(),
    /**
     * Resumable Streamable HTTP streams (Last-Event-ID): events kept in memory, or in Redis when
     * cache is Redis with an encryptionKey (then a resume may reach any replica).
     */
    streams: z
      .object({
        resumable: z.boolean().default(true),
        /** How long an event is kept for a client that reconnects. */
        eventTtlSeconds: z
          .number()
          .int()
          .positive()
          .max(3_600)
          .default(DEFAULTS.http.streams.eventTtlSeconds),
        /** Bytes of events one session keeps (the oldest go first). */
        maxSessionBytes: z.number().int().positive().default(DEFAULTS.http.streams.maxSessionBytes),
        /** Bytes of events all sessions keep together in memory (beyond, events are not resumable). */
        maxBytes: z.number().int().positive().default(DEFAULTS.http.streams.maxBytes),
        /** The `retry:` field of priming events: how long a client waits before reconnecting (ms). */
        retryMs: z.number().int().min(0).max(60_000).default(DEFAULTS.http.streams.retryMs),
        /**
         * A call's stream still waiting for its result after this long is closed; the client comes
         * back with Last-Event-ID after retryMs (SEP-1699 polling: no connection held per waiting
         * call). 0: never.
         */
        pollAfterSeconds: z.number().int().min(0).max(3_600).default(DEFAULTS.http.streams.pollAfterSeconds),
      })
      .strict()
      .default({
        resumable: true,
        eventTtlSeconds: DEFAULTS.http.streams.eventTtlSeconds,
        maxSessionBytes: DEFAULTS.http.streams.maxSessionBytes,
        maxBytes: DEFAULTS.http.streams.maxBytes,
        retryMs: DEFAULTS.http.streams.retryMs,
        pollAfterSeconds: DEFAULTS.http.streams.pollAfterSeconds,
      }),
  })
  .strict();

/**
 * The approval console (issue 15): served under /console/ by `serve --http`, or by `keyward
 * console` on loopback. Operators sign in with their own tokens, never an agent's.
 */
export const consoleSchema = z
  .object({
    operators: z
      .array(
        z
          .object({
            /** Shown in the console and recorded in the audit trail as `operator:<name>`. */
            name,
            /** Hex SHA-256 of the operator token (`keyward tokens create --operator NAME`). */
            sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters'),
          })
          .strict(),
      )
      .default([]),
    /**
     * The console's base URL as operators' browsers reach it (links in elicitations and alerts).
     * Default: the origin of server.http.publicUrl, else the bound address, + `/console`.
     */
    publicUrl: z.string().url().optional(),
    /** Lifetime of an operator's sign-in. */
    sessionTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 86_400)
      .default(DEFAULTS.console.sessionTtlSeconds),
    /** How long an agent's call waits for an operator's answer after a URL elicitation. */
    waitSeconds: z.number().int().positive().max(3_600).default(DEFAULTS.console.waitSeconds),
  })
  .strict()
  .default({
    operators: [],
    sessionTtlSeconds: DEFAULTS.console.sessionTtlSeconds,
    waitSeconds: DEFAULTS.console.waitSeconds,
  });

/** Where keyward reads a value it needs (a client secret): a backend ref, never the config. */
export const backendValueSchema = z
  .object({ backend: name, ref: z.string().min(1), field: z.string().optional() })
  .strict();

/** An OAuth 2.0 / OpenID Connect provider users connect their accounts at (docs/user-oauth.md). */
export const oauthProviderSchema = z
  .object({
    /** OpenID Connect discovery (`/.well-known/openid-configuration`); or the endpoints below. */
    issuer: z.string().url().optional(),
    authorizationUrl: z.string().url().optional(),
    tokenUrl: z.string().url().optional(),
    /** RFC 7009 revocation endpoint (discovered when the provider publishes one). */
    revocationUrl: z.string().url().optional(),
    clientId: z.string().min(1),
    /** The client secret, read from a secret backend (absent: a public client, PKCE only). */
    clientSecret: backendValueSchema.optional(),
    clientAuth: z.enum(['basic', 'body']).default('basic'),
    scopes: z.array(z.string().min(1)).default([]),
    /** Extra authorization request parameters (Google: `access_type: offline`, `prompt: consent`). */
    authorizationParams: z.record(z.string(), z.string()).default({}),
    /**
     * How keyward checks that the person who consents is the principal the tokens are stored for:
     * `signIn` (they sign in to keyward at `connections.signIn` first, default), `idToken` (this
     * provider is the identity provider: its ID token's `userClaim` must equal the user), or `none`
     * (only the single-use link binds them: a single-user, local setup).
     */
    verifyUser: z.enum(['signIn', 'idToken', 'none']).default('signIn'),
    userClaim: z.string().default('sub'),
    /** Refresh an access token this long before it expires. */
    refreshSkewSeconds: z.number().int().min(0).max(3600).default(60),
    /** Lifetime assumed for an access token issued without `expires_in` (0: until rejected). */
    defaultLifetimeSeconds: z.number().int().min(0).default(0),
    /** Deadline of every request to the provider. */
    timeoutMs: z.number().int().positive().max(60_000).default(DEFAULTS.connections.timeoutMs),
  })
  .strict();
export type OAuthProviderConfig = z.infer<typeof oauthProviderSchema>;

/**
 * Per-user OAuth connections (issue 16): keyward's own /oauth/start and /oauth/callback pages, the
 * providers, and how a person proves they are the user before their tokens are stored.
 */
export const connectionsSchema = z
  .object({
    /** The origin (and path prefix) browsers reach keyward at; the redirect URI is `<publicUrl>/oauth/callback`. Default: server.http.publicUrl's origin, else the bound address. */
    publicUrl: z.string().url().optional(),
    providers: z.record(name, oauthProviderSchema).default({}),
    /** The identity provider people sign in to keyward with (`verifyUser: "signIn"`). */
    signIn: z
      .object({
        issuer: z.string().url(),
        clientId: z.string().min(1),
        clientSecret: backendValueSchema.optional(),
        clientAuth: z.enum(['basic', 'body']).default('basic'),
        /** The ID token claim that must equal the principal's user. */
        userClaim: z.string().default('sub'),
        scopes: z.array(z.string().min(1)).default(['openid']),
        timeoutMs: z.number().int().positive().max(60_000).default(DEFAULTS.connections.timeoutMs),
      })
      .strict()
      .optional(),
    /** How long a link handed to an agent (the ticket in /oauth/start?ticket=…) stays usable, once. */
    linkTtlSeconds: z.number().int().positive().max(3600).default(DEFAULTS.connections.linkTtlSeconds),
    /** How long a started consent (`state`) may take at the provider. */
    stateTtlSeconds: z.number().int().positive().max(3600).default(DEFAULTS.connections.stateTtlSeconds),
    /** How long a call waits for the user's consent after a URL elicitation. */
    waitSeconds: z.number().int().positive().max(3600).default(DEFAULTS.connections.waitSeconds),
  })
  .strict()
  .default({
    providers: {},
    linkTtlSeconds: DEFAULTS.connections.linkTtlSeconds,
    stateTtlSeconds: DEFAULTS.connections.stateTtlSeconds,
    waitSeconds: DEFAULTS.connections.waitSeconds,
  });
export type ConnectionsConfig = z.infer<typeof connectionsSchema>;

export const notifierSchema = z
  .object({
    webhook: z
      .object({
        url: z.string().url(),
        timeoutMs: z.number().int().positive().default(3000),
        retries: z.number().int().min(0).max(5).default(2),
      })
      .strict()
      .optional(),
    repeatedDenials: z
      .object({
        count: z.number().int().positive().default(5),
        windowSeconds: z.number().positive().default(60),
      })
      .strict()
      .default({ count: 5, windowSeconds: 60 }),
  })
  .strict()
  .default({ repeatedDenials: { count: 5, windowSeconds: 60 } });

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    agents: z.record(name, agentSchema).default({}),
    identity: identitySchema,
    backends: z.record(name, backendSchema).default({}),
    credentials: z.record(name, credentialSchema).default({}),
    tools: z.record(toolName, toolSchema).default({}),
    toolSources: z.array(toolSourceSchema).default([]),
    policy: policySchema,
    cache: cacheSchema,
    audit: auditSchema,
    grants: grantsSchema,
    server: z.object({ http: httpServerSchema.optional() }).strict().default({}),
    notifier: notifierSchema,
    console: consoleSchema,
    connections: connectionsSchema,
    upstream: z
      .object({
        breaker: z
          .object({
            threshold: z.number().gt(0).max(1).default(DEFAULTS.upstream.breaker.threshold),
            minimumCalls: z.number().int().positive().default(DEFAULTS.upstream.breaker.minimumCalls),
            windowSeconds: z.number().positive().default(DEFAULTS.upstream.breaker.windowSeconds),
            openSeconds: z.number().positive().default(DEFAULTS.upstream.breaker.openSeconds),
          })
          .strict()
          .default(DEFAULTS.upstream.breaker),
      })
      .strict()
      .default({ breaker: DEFAULTS.upstream.breaker }),
    logging: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type KeywardConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
