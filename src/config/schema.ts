/**
 * The zod schema of tools.config.json (DESIGN.md §9). Secrets never appear here: only references
 * to files or environment variables (bootstrap values) and backend refs (API keys).
 * `keyward schema` prints the JSON Schema generated from this file for editor completion, and
 * `keyward schema --markdown docs/configuration.md` writes the reference tables of that document
 * from it: every field's description is here (`.describe(…)`), every default in DEFAULTS.
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
/** Where a secret value keyward reads is taken from: a backend ref, never the config. */
export const backendValueSchema = z
  .object({
    backend: name.describe('a name from `backends`'),
    ref: z.string().min(1).describe('the backend path or name'),
    field: z.string().optional().describe('a field of a structured secret'),
  })
  .strict();
export type SecretSource = z.infer<typeof secretSourceSchema>;

export const agentSchema = z
  .object({
    roles: z.array(name).default([]).describe('roles the policy rules match on'),
    tenant: name.default(DEFAULTS.agent.tenant).describe('the tenant (`{tenant}` in credential refs)'),
    attributes: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .default({})
      .describe('free attributes, visible to CEL conditions as `principal.attributes`'),
  })
  .strict();

export const identitySchema = z
  .object({
    stdio: z
      .object({
        agent: name.describe(
          'the agent (from `agents`) a stdio session acts as (`serve --agent` overrides it)',
        ),
        user: name
          .optional()
          .describe(
            'the person this stdio agent acts for (`{user}` in refs, [user connections](user-oauth.md))',
          ),
      })
      .strict()
      .optional()
      .describe('the principal of a stdio session'),
    tokens: z
      .array(
        z
          .object({
            agent: name.describe('the agent this token authenticates'),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters')
              .describe(
                'hex SHA-256 of the token; only the hash is stored (`keyward tokens create --agent A` prints the token once and this hash); hashes must be unique',
              ),
            id: z
              .string()
              .optional()
              .describe(
                'names the sessions this token owns (default: the first 16 hex digits of the hash); ids must be unique',
              ),
            tenant: name.optional().describe("overrides the agent's tenant"),
            roles: z.array(name).optional().describe("overrides the agent's roles"),
            user: name.optional().describe("the person this token's agent acts for (user connections)"),
          })
          .strict(),
      )
      .default([])
      .describe('static API tokens for HTTP'),
    jwt: z
      .object({
        issuers: z.array(z.string().url()).min(1).describe('accepted `iss` values'),
        audience: z.string().min(1).describe("the required `aud`: this server's /mcp URL"),
        jwksUri: z
          .string()
          .url()
          .optional()
          .describe('where the signing keys are fetched (set this or jwksFile)'),
        jwksFile: z.string().optional().describe('a local JWKS file (set this or jwksUri)'),
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
          .default(() => [...DEFAULTS.identity.jwt.algorithms])
          .describe('accepted signature algorithms'),
        clockToleranceSeconds: z
          .number()
          .int()
          .min(0)
          .max(300)
          .default(DEFAULTS.identity.jwt.clockToleranceSeconds)
          .describe('allowed clock skew for `exp`, `nbf` and `iat`'),
        maxTokenLifetimeSeconds: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.identity.maxTokenLifetimeSeconds)
          .describe(
            'longest accepted lifetime (`exp − iat`, or `exp − now` without `iat`); longer tokens get 401',
          ),
        claims: z
          .object({
            agent: z
              .string()
              .default(DEFAULTS.identity.jwt.claims.agent)
              .describe('the claim naming the agent'),
            tenant: z
              .string()
              .nullable()
              .default(DEFAULTS.identity.jwt.claims.tenant)
              .describe('the claim naming the tenant; `null`: taken from `agents.<agent>` (or `default`)'),
            roles: z
              .string()
              .nullable()
              .default(DEFAULTS.identity.jwt.claims.roles)
              .describe('the claim listing the roles; `null`: taken from `agents.<agent>` (or none)'),
            user: z
              .string()
              .nullable()
              .default(DEFAULTS.identity.jwt.claims.user)
              .describe(
                'the claim naming the person the agent acts for (`{user}`, user connections); missing or not a safe name: the token names no user and its `{user}` refs resolve to nothing; `null`: never a user',
              ),
          })
          .strict()
          .prefault({})
          .describe(
            'where agent, tenant, roles and user come from; a mapped agent, tenant or roles claim that is missing or not a safe name is a 401, never a default',
          ),
      })
      .strict()
      .optional()
      .describe(
        'JWT bearer tokens from your identity provider ([deployment](deployment.md#jwt-bearer-tokens-your-idp))',
      ),
  })
  .strict()
  .prefault({});

const backendCommon = {
  timeoutMs: z
    .number()
    .int()
    .positive()
    .default(DEFAULTS.backend.timeoutMs)
    .describe('deadline of one backend request'),
  retries: z
    .number()
    .int()
    .min(0)
    .max(5)
    .default(DEFAULTS.backend.retries)
    .describe('retries with full jitter, on availability failures only'),
  staleSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(DEFAULTS.backend.staleSeconds)
    .describe(
      "how long past its cache TTL a value may be served while the backend is unavailable; never past the secret's own expiry, never after revoked or not found",
    ),
};

export const fileBackendSchema = z
  .object({
    type: z.literal('file').describe('the embedded encrypted file store (the default)'),
    path: z.string().default(DEFAULTS.file.storePath).describe('the encrypted store'),
    keyPath: z.string().default(DEFAULTS.file.keyPath).describe('the master key file'),
    createIfMissing: z
      .boolean()
      .default(DEFAULTS.file.createIfMissing)
      .describe(
        'create the key file (0600) and an empty store on first use when neither exists (never when only one does)',
      ),
    ...backendCommon,
  })
  .strict();

export const vaultBackendSchema = z
  .object({
    type: z
      .literal('vault')
      .describe('HashiCorp Vault (setup and least-privilege policies: [backends.md](backends.md))'),
    address: z.string().url().describe('the Vault address'),
    mount: z.string().default(DEFAULTS.vault.mount).describe('the KV mount'),
    kvVersion: z.literal(2).default(DEFAULTS.vault.kvVersion).describe('KV version (only 2)'),
    namespace: z.string().optional().describe('Vault Enterprise namespace'),
    auth: z
      .discriminatedUnion('method', [
        z
          .object({
            method: z.literal('token'),
            token: secretSourceSchema.describe('where the Vault token is read from'),
          })
          .strict(),
        z
          .object({
            method: z.literal('approle'),
            mount: z.string().default(DEFAULTS.vault.appRoleMount).describe('the AppRole auth mount'),
            roleId: secretSourceSchema.describe('where the role id is read from'),
            secretId: secretSourceSchema.describe('where the secret id is read from'),
          })
          .strict(),
      ])
      .describe('how keyward logs in: a token, or AppRole'),
    tls: z
      .object({
        caFile: z.string().optional().describe('CA bundle'),
        certFile: z.string().optional().describe('client certificate'),
        keyFile: z.string().optional().describe('client key'),
        rejectUnauthorized: z
          .boolean()
          .default(DEFAULTS.vault.tlsRejectUnauthorized)
          .describe('verify the server certificate'),
      })
      .strict()
      .optional()
      .describe('TLS to Vault'),
    dynamicMounts: z
      .array(z.string())
      .default([])
      .describe('dynamic-secret paths (not KV): read as `GET /v1/<ref>`, leases renewed or re-issued'),
    renewBeforeSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(DEFAULTS.vault.renewBeforeSeconds)
      .describe('renew (or re-issue) a Vault token or lease this long before it expires'),
    ...backendCommon,
  })
  .strict();

export const awsBackendSchema = z
  .object({
    type: z.literal('aws-secrets-manager').describe('AWS Secrets Manager ([backends.md](backends.md))'),
    region: z.string().min(1).describe('the AWS region'),
    endpoint: z.string().url().optional().describe('a custom endpoint (e.g. a VPC endpoint or an emulator)'),
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
      .optional()
      .describe(
        'a named profile, or access keys read from files or environment variables; default: the AWS provider chain',
      ),
    ...backendCommon,
  })
  .strict();

export const envBackendSchema = z
  .object({
    type: z.literal('env').describe('environment variables: development only, warns'),
    prefix: z.string().default(DEFAULTS.env.prefix).describe('the variable read is `<prefix><ref>`'),
    ...backendCommon,
  })
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
      type: z.literal('header').describe('sends the value in a header'),
      header: headerName.describe('the header name, e.g. `X-Api-Key`'),
      format: z
        .string()
        .includes('{value}')
        .default(DEFAULTS.inject.headerFormat)
        .describe('`{value}` is replaced by the secret, e.g. `Bearer {value}`'),
    })
    .strict(),
  z.object({ type: z.literal('bearer').describe('sends `Authorization: Bearer <value>`') }).strict(),
  z
    .object({
      type: z.literal('query').describe('sends `?<param>=<value>`'),
      param: z.string().min(1).describe('the query parameter'),
    })
    .strict(),
  z
    .object({
      type: z.literal('basic').describe("HTTP basic authentication from the secret's fields"),
      usernameField: z
        .string()
        .default(DEFAULTS.inject.usernameField)
        .describe('the field of the secret holding the username'),
      username: z.string().optional().describe('a fixed, non-secret username instead of usernameField'),
      passwordField: z
        .string()
        .default(DEFAULTS.inject.passwordField)
        .describe('the field of the secret holding the password'),
    })
    .strict(),
  z
    .object({
      type: z
        .literal('oauth2-client-credentials')
        .describe(
          "a token from the token endpoint (client id and secret from the secret's fields), cached until it expires",
        ),
      tokenUrl: z
        .string()
        .url()
        .describe("the token endpoint (its origin must be in the credential's origins)"),
      clientIdField: z
        .string()
        .default(DEFAULTS.inject.clientIdField)
        .describe('the field of the secret holding the client id'),
      clientSecretField: z
        .string()
        .default(DEFAULTS.inject.clientSecretField)
        .describe('the field of the secret holding the client secret'),
      scopes: z.array(z.string()).default([]).describe('scopes requested'),
      audience: z.string().optional().describe('the `audience` parameter, for providers that need one'),
      clientAuth: z
        .enum(['basic', 'body'])
        .default(DEFAULTS.inject.clientAuth)
        .describe('how the client authenticates to the token endpoint'),
      refreshSkewSeconds: z
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.inject.refreshSkewSeconds)
        .describe('fetch a new token this long before the current one expires'),
    })
    .strict(),
  z
    .object({
      type: z
        .literal('oauth2-refresh-token')
        .describe('an access token from a stored refresh token (rotated when the server issues a new one)'),
      tokenUrl: z
        .string()
        .url()
        .describe("the token endpoint (its origin must be in the credential's origins)"),
      clientIdField: z
        .string()
        .default(DEFAULTS.inject.clientIdField)
        .describe('the field of the secret holding the client id'),
      clientSecretField: z
        .string()
        .default(DEFAULTS.inject.clientSecretField)
        .describe('the field of the secret holding the client secret'),
      refreshTokenField: z
        .string()
        .default(DEFAULTS.inject.refreshTokenField)
        .describe('the field of the secret holding the refresh token'),
      scopes: z.array(z.string()).default([]).describe('scopes requested'),
      clientAuth: z
        .enum(['basic', 'body'])
        .default(DEFAULTS.inject.clientAuth)
        .describe(
          'how the client authenticates to the token endpoint (public clients without a secret: body)',
        ),
      refreshSkewSeconds: z
        .number()
        .int()
        .min(0)
        .default(DEFAULTS.inject.refreshSkewSeconds)
        .describe('refresh this long before the access token expires'),
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
    backend: name.describe('a name from `backends`'),
    ref: z
      .string()
      .min(1)
      .describe(
        "the backend path or name; may use `{tenant}`, `{agent}` and `{user}` of the authenticated principal (never arguments). Two placeholders must be separated by a character no name may hold (`/`, `:`, `+`): `keys/{tenant}-{agent}` is refused, because tenant `a-b` with agent `c` and tenant `a` with agent `b-c` would share one key. With `connection`: where keyward stores each user's tokens (must use `{user}`)",
      ),
    connection: name
      .optional()
      .describe(
        "a provider in `connections.providers`: a **user connection** (per-user OAuth 2.0, [user-oauth.md](user-oauth.md)). The value injected is the user's access token (authorization code + PKCE, refreshed by keyward); `backend` + `ref` are then the token vault keyward writes each user's tokens to, `inject` is `bearer` or `header`, and `cacheTtlSeconds` is how often a running server re-reads the vault",
      ),
    field: z.string().optional().describe('a field of a structured secret (KV v2 data key, JSON key)'),
    version: z.string().optional().describe('pin a version of the secret'),
    stage: z.string().optional().describe('AWS version stage'),
    inject: z
      .preprocess(normalizeInject, injectSchema)
      .describe(
        'how the value reaches the upstream; the DESIGN shorthand `{ "header": "Authorization", "format": "Bearer {value}" }` or `{ "query": "api_key" }` (no `type`) is accepted too',
      ),
    origins: z
      .array(z.string().url())
      .min(1)
      .describe('the only origins this credential is ever sent to (scheme://host[:port])'),
    cacheTtlSeconds: z
      .number()
      .int()
      .min(0)
      .max(DEFAULTS.cache.maxTtlSeconds)
      .default(DEFAULTS.cache.ttlSeconds)
      .describe("cache lifetime of the value; never past the secret's expiry minus 5 s"),
  })
  .strict();
export type CredentialConfig = z.infer<typeof credentialSchema>;

const timeoutsSchema = z
  .object({
    connectMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.upstream.connectTimeoutMs)
      .describe('deadline to connect to the upstream'),
    headersMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.upstream.headersTimeoutMs)
      .describe('deadline for the response headers'),
    totalMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.upstream.totalTimeoutMs)
      .describe('deadline for the whole call'),
  })
  .strict();

const jsonSchemaObject = z
  .object({ type: z.literal('object') })
  .passthrough()
  .describe(
    'the JSON Schema (2020-12, type object) of the arguments; unknown keys are rejected unless `additionalProperties` is set',
  );

export const toolSchema = z
  .object({
    title: z.string().optional().describe('a human title shown by MCP clients'),
    description: z
      .string()
      .max(4096)
      .default(DEFAULTS.tool.description)
      .describe('what the tool does, for the agent'),
    permission: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -')
      .describe('what the policy checks (`github:write`)'),
    credential: name.optional().describe('a name from `credentials`; absent: no credential is sent'),
    request: z
      .object({
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).describe('the HTTP method'),
        url: z
          .string()
          .url()
          .describe(
            'absolute; the origin is fixed; `{param}` path placeholders are percent-encoded as one segment (`.`, `..` and empty are refused)',
          ),
        query: z
          .record(z.string(), z.string())
          .default({})
          .describe(
            "query parameter templates; a template that is exactly `{x}` is omitted when `x` is absent; the credential's query parameter cannot be set",
          ),
        headers: z
          .record(headerName, z.string())
          .default({})
          .describe(
            "header templates; a template that is exactly `{x}` is omitted when `x` is absent; values with CR/LF are refused; tools cannot set `authorization`, `cookie`, `host` or the credential's header",
          ),
        body: z
          .unknown()
          .optional()
          .describe(
            '`"args"` (the arguments not used in the path, query or headers, as JSON) or a JSON template (`"{x}"` keeps the argument\'s type)',
          ),
      })
      .strict()
      .describe('the upstream request, built from the arguments'),
    input: jsonSchemaObject.default(() => structuredClone(DEFAULTS.tool.input)),
    timeouts: timeoutsSchema.optional().describe('outbound deadlines'),
    maxResponseBytes: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.upstream.maxResponseBytes)
      .describe('larger responses fail with `response_too_large`'),
    responseHeaders: z
      .array(z.string())
      .optional()
      .describe(
        'upstream headers passed back to the agent (lowercase names); all others are dropped. Default: content-type, etag, last-modified, retry-after, x-ratelimit-*, link, x-request-id',
      ),
    fallback: z
      .union([
        z.object({ tool: toolName.describe('another tool to call instead') }).strict(),
        z.object({ result: z.unknown().describe('a fixed result') }).strict(),
      ])
      .optional()
      .describe('used on `permission_denied` / `credential_revoked`; the result says the fallback answered'),
    annotations: z
      .object({
        readOnlyHint: z.boolean().optional().describe('the tool changes nothing'),
        destructiveHint: z.boolean().optional().describe('the tool may delete or overwrite'),
        idempotentHint: z.boolean().optional().describe('calling it twice has the effect of once'),
        openWorldHint: z.boolean().optional().describe('the tool reaches outside systems'),
      })
      .strict()
      .optional()
      .describe('MCP tool annotations (hints for clients)'),
    generated: z
      .object({
        source: z.string().describe('the OpenAPI document the tool came from'),
        sha256: z.string().describe('hash of the definition as generated'),
      })
      .strict()
      .optional()
      .describe(
        'set by `keyward import openapi`: the hash of the generated definition, to detect spec drift',
      ),
  })
  .strict();
export type ToolConfig = z.infer<typeof toolSchema>;

export const toolSourceSchema = z
  .object({
    openapi: z.string().min(1).describe('the OpenAPI (3.x) or Swagger 2.0 document, JSON or YAML'),
    credential: name.optional().describe('the credential of every generated tool'),
    tags: z.array(z.string()).optional().describe('only the operations with one of these tags'),
    operations: z
      .array(z.string())
      .optional()
      .describe('only these operations (operationId or generated tool name)'),
    permissionPrefix: z
      .string()
      .optional()
      .describe('generated permissions are `<prefix>:read` / `<prefix>:write`'),
    baseUrl: z.string().url().optional().describe("overrides the document's server URL"),
  })
  .strict();

const stringList = z.array(z.string().min(1));

export const ruleSchema = z
  .object({
    id: z.string().min(1).describe('unique among the rules'),
    effect: z
      .enum(['allow', 'deny', 'approve'])
      .describe('`deny` wins; `approve` needs a live grant obtained through human approval'),
    agents: stringList.optional().describe('agent names (`*` wildcards)'),
    roles: stringList.optional().describe('roles (`*` wildcards)'),
    tenants: stringList.optional().describe('tenants (`*` wildcards)'),
    tools: stringList.optional().describe('tool names (`*` wildcards)'),
    permissions: stringList
      .optional()
      .describe('permission patterns; `*` matches any run of characters (`github:*`)'),
    when: z.string().optional().describe('a CEL condition over `principal`, `args`, `tool` and `permission`'),
    rateLimit: z
      .object({
        requests: z.number().int().positive().describe('calls allowed'),
        perSeconds: z.number().positive().describe('per this many seconds'),
        per: z
          .enum(['permission', 'tool'])
          .default(DEFAULTS.policy.rateLimitPer)
          .describe('one bucket per permission or per tool'),
      })
      .strict()
      .optional()
      .describe('a token bucket per agent and tenant'),
    grantTtlSeconds: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.grants.ttlSeconds)
      .describe('for `approve` rules: the default lifetime of a grant'),
    maxGrantTtlSeconds: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('for `approve` rules: the longest lifetime an approver may give'),
    grantMaxCalls: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('for `approve` rules: calls a grant allows'),
    approval: z
      .enum(['operator', 'elicitation', 'any'])
      .optional()
      .describe(
        'for `approve` rules: who may approve. `operator` (`keyward grants approve`, the console), `elicitation` (the human in the MCP client) or `any`. Default: `operator` for principals authenticated over HTTP (their MCP client may be the agent itself), `any` on stdio ([capabilities](capabilities.md#grants-and-approvals))',
      ),
    description: z.string().optional().describe('shown to approvers and by `list_capabilities`'),
  })
  .strict();
export type RuleConfig = z.infer<typeof ruleSchema>;

export const policySchema = z
  .object({
    rules: z
      .array(ruleSchema)
      .default([])
      .describe('deny by default; any matching `deny` wins; then `approve`; then `allow`'),
    hideUnusableTools: z
      .boolean()
      .default(DEFAULTS.policy.hideUnusableTools)
      .describe('hide tools the principal can never use from tools/list'),
    metaTools: z
      .boolean()
      .default(DEFAULTS.policy.metaTools)
      .describe('expose `list_capabilities` and `request_capability`'),
    metaToolRateLimit: z
      .object({
        requests: z.number().int().positive().describe('calls allowed'),
        perSeconds: z.number().positive().describe('per this many seconds'),
      })
      .strict()
      .default(() => ({ ...DEFAULTS.policy.metaToolRateLimit }))
      .describe(
        'calls of `list_capabilities` and `request_capability` per agent and tenant (one shared bucket, across replicas with a Redis cache); over it they answer `rate_limited` with `retryAfterSeconds`',
      ),
  })
  .strict()
  .prefault({});

export const cacheSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('memory').describe('an in-process LRU (the default)'),
        maxEntries: z.number().int().positive().default(DEFAULTS.cache.maxEntries).describe('LRU capacity'),
      })
      .strict(),
    z
      .object({
        type: z
          .literal('redis')
          .describe(
            'Redis, shared by replicas (also holds grants with `grants.store` redis, shared rate limits, consent state and resumable stream events)',
          ),
        url: z.string().min(1).describe('e.g. `redis://127.0.0.1:6379`'),
        keyPrefix: z
          .string()
          .default(DEFAULTS.cache.redis.keyPrefix)
          .describe('prefix of every key keyward writes'),
        encryptionKey: secretSourceSchema
          .optional()
          .describe(
            '32-byte AES key (base64 or hex) sealing cached values, grants and shared state; Redis never sees it',
          ),
        commandTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.cache.redis.commandTimeoutMs)
          .describe('deadline of one Redis command'),
      })
      .strict(),
  ])
  .prefault({ type: DEFAULTS.cache.type })
  .describe('where resolved credentials are cached');

/** Shared by both audit stores: the keyed chain and the checkpoints outside the database. */
const auditAnchor = {
  chainKey: secretSourceSchema
    .optional()
    .describe(
      'HMAC key of the chain and its checkpoints (32 bytes, hex or base64); never in the database ([audit.md](audit.md#removal-is-detected-too-a-keyed-chain-and-checkpoints))',
    ),
  checkpoints: z
    .string()
    .optional()
    .describe(
      'the writer registry and signed heads (default: beside the SQLite file; for PostgreSQL, .keyward/ beside the config)',
    ),
  checkpointIntervalSeconds: z
    .number()
    .int()
    .positive()
    .default(DEFAULTS.audit.checkpointIntervalSeconds)
    .describe('how often a signed head is written'),
};

export const auditSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('sqlite').describe('a local SQLite file with a write-ahead journal (the default)'),
        path: z.string().default(DEFAULTS.audit.sqlitePath).describe('the database file'),
        ...auditAnchor,
      })
      .strict(),
    z
      .object({
        ...auditAnchor,
        type: z.literal('postgres').describe('PostgreSQL, shared by replicas'),
        url: z.string().min(1).describe('e.g. `postgres://…`'),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default(DEFAULTS.audit.postgresSchema)
          .describe('the database schema keyward creates its tables in'),
        statementTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.audit.writeTimeoutMs)
          .describe('deadline of one statement'),
        connectTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.audit.writeTimeoutMs)
          .describe('deadline to connect'),
      })
      .strict(),
  ])
  .prefault({ type: DEFAULTS.audit.type })
  .describe('the tamper-evident audit trail ([audit.md](audit.md))');

export const grantsSchema = z
  .object({
    store: z
      .enum(['sqlite', 'memory', 'redis'])
      .default(DEFAULTS.grants.store)
      .describe(
        "`sqlite` shares grants and approvals with `keyward grants` in another process; `memory` (tests); `redis` (shares the cache's Redis, needs `cache.encryptionKey`)",
      ),
    path: z.string().default(DEFAULTS.grants.sqlitePath).describe('the SQLite file (store `sqlite`)'),
  })
  .strict()
  .prefault({})
  .describe('where grants and pending approvals live');

export const httpServerSchema = z
  .object({
    host: z
      .string()
      .default(DEFAULTS.http.host)
      .describe(
        'the address to bind (`serve --host` overrides it); a non-loopback address needs `identity.tokens` or `identity.jwt`',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DEFAULTS.http.port)
      .describe('`serve --port` overrides it'),
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe('the public URL of /mcp (the JWT audience and RFC 9728 resource)'),
    allowedHosts: z
      .array(z.string())
      .optional()
      .describe(
        'accepted `Host` headers (DNS rebinding protection); default: the loopback names, the hosts of publicUrl and connections.publicUrl, and the bound host (unless a wildcard address)',
      ),
    allowedOrigins: z
      .array(z.string())
      .default([])
      .describe(
        "browser origins allowed to call /mcp besides publicUrl's origin, the console's and localhost on the bound port",
      ),
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.maxBodyBytes)
      .describe('largest request body ([fair sharing](deployment.md))'),
    sessionIdleSeconds: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.sessionIdleSeconds)
      .describe('an idle session is closed after this long'),
    maxSessions: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.maxSessions)
      .describe('open sessions in all'),
    maxSessionsPerPrincipal: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.maxSessionsPerPrincipal)
      .describe('sessions one principal (agent and tenant) may hold; beyond: 429'),
    maxInFlightPerPrincipal: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.maxInFlightPerPrincipal)
      .describe(
        'tool calls one principal may run at once across sessions and batches; beyond: `rate_limited` / 429',
      ),
    maxConnections: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.maxConnections)
      .describe('open TCP connections; beyond, new ones are closed at once'),
    headersTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.headersTimeoutMs)
      .describe('a connection that has not sent its headers by then is closed (slow-header attack)'),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULTS.http.requestTimeoutMs)
      .describe('a request (headers and body) not received by then is cut (trickling bodies)'),
    metricsToken: secretSourceSchema
      .optional()
      .describe(
        'when set, GET /metrics needs `Authorization: Bearer <this token>` (tool names are operator data)',
      ),
    metricsToolNames: z
      .boolean()
      .optional()
      .describe('name tools in /metrics labels; default: only when metricsToken is set (else `tool="*"`)'),
    streams: z
      .object({
        resumable: z
          .boolean()
          .default(DEFAULTS.http.streams.resumable)
          .describe('keep events so a client can resume with Last-Event-ID'),
        eventTtlSeconds: z
          .number()
          .int()
          .positive()
          .max(3_600)
          .default(DEFAULTS.http.streams.eventTtlSeconds)
          .describe('how long an event is kept for a client that reconnects'),
        maxSessionBytes: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.http.streams.maxSessionBytes)
          .describe('bytes of events one session keeps (the oldest go first)'),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.http.streams.maxBytes)
          .describe(
            'bytes of events all sessions keep together in memory (beyond, events are not resumable)',
          ),
        retryMs: z
          .number()
          .int()
          .min(0)
          .max(60_000)
          .default(DEFAULTS.http.streams.retryMs)
          .describe('the `retry:` field of priming events: how long a client waits before reconnecting'),
        pollAfterSeconds: z
          .number()
          .int()
          .min(0)
          .max(3_600)
          .default(DEFAULTS.http.streams.pollAfterSeconds)
          .describe(
            "a call's stream still waiting for its result after this long is closed; the client comes back with Last-Event-ID after retryMs (SEP-1699 polling: no connection held per waiting call); 0: never",
          ),
      })
      .strict()
      .prefault({})
      .describe(
        'resumable Streamable HTTP streams ([deployment](deployment.md#resumable-streams)): events kept in memory, or in Redis when `cache` is Redis with an `encryptionKey` (then a resume may reach any replica)',
      ),
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
            name: name.describe('shown in the console and recorded in the audit trail as `operator:<name>`'),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters')
              .describe(
                'hex SHA-256 of the operator token (`keyward tokens create --operator NAME -c F`); a token may not also be an agent token',
              ),
          })
          .strict(),
      )
      .default([])
      .describe(
        'operators and the SHA-256 of their tokens; the console is served when at least one is listed',
      ),
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe(
        "the console's URL as operators' browsers reach it: links in URL elicitations, `approval_required` and alerts; for stdio setups, the address of `keyward console`. Default: the origin of `server.http.publicUrl` (else the bound address) + `/console`",
      ),
    sessionTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 86_400)
      .default(DEFAULTS.console.sessionTtlSeconds)
      .describe("lifetime of an operator's sign-in"),
    waitSeconds: z
      .number()
      .int()
      .positive()
      .max(3_600)
      .default(DEFAULTS.console.waitSeconds)
      .describe("how long an agent's call waits for an operator's answer after a URL elicitation"),
  })
  .strict()
  .prefault({});

/** An OAuth 2.0 / OpenID Connect provider users connect their accounts at (docs/user-oauth.md). */
export const oauthProviderSchema = z
  .object({
    issuer: z
      .string()
      .url()
      .optional()
      .describe('OpenID Connect discovery (`/.well-known/openid-configuration`); or the endpoints below'),
    authorizationUrl: z.string().url().optional().describe('the authorization endpoint (without issuer)'),
    tokenUrl: z.string().url().optional().describe('the token endpoint (without issuer)'),
    revocationUrl: z
      .string()
      .url()
      .optional()
      .describe('RFC 7009 revocation endpoint (discovered when the provider publishes one)'),
    clientId: z.string().min(1).describe("keyward's client id at the provider"),
    clientSecret: backendValueSchema
      .optional()
      .describe(
        'the client secret, read from a secret backend, never written here (absent: a public client, PKCE only)',
      ),
    clientAuth: z
      .enum(['basic', 'body'])
      .default(DEFAULTS.connections.clientAuth)
      .describe('how the client authenticates to the token endpoint'),
    scopes: z.array(z.string().min(1)).default([]).describe('scopes requested'),
    authorizationParams: z
      .record(z.string(), z.string())
      .default({})
      .describe('extra authorization request parameters (Google: `access_type: offline`, `prompt: consent`)'),
    verifyUser: z
      .enum(['signIn', 'idToken', 'none'])
      .default(DEFAULTS.connections.verifyUser)
      .describe(
        "how keyward checks that the person who consents is the user the tokens are stored for: `signIn` (they sign in to keyward at `connections.signIn` first; the signed-in `userClaim` must be the link's user), `idToken` (this provider is the identity provider: its ID token's `userClaim` must be the link's user), or `none` (only the single-use link binds them: a single-user, local setup)",
      ),
    userClaim: z
      .string()
      .default(DEFAULTS.connections.userClaim)
      .describe('the ID token claim compared with the user (`verifyUser: "idToken"`)'),
    refreshSkewSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(DEFAULTS.connections.refreshSkewSeconds)
      .describe('refresh an access token this long before it expires'),
    defaultLifetimeSeconds: z
      .number()
      .int()
      .min(0)
      .default(DEFAULTS.connections.defaultLifetimeSeconds)
      .describe('lifetime assumed for an access token issued without `expires_in` (0: until rejected)'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(DEFAULTS.connections.timeoutMs)
      .describe('deadline of every request to the provider'),
  })
  .strict();
export type OAuthProviderConfig = z.infer<typeof oauthProviderSchema>;

/**
 * Per-user OAuth connections (issue 16): keyward's own /oauth/start and /oauth/callback pages, the
 * providers, and how a person proves they are the user before their tokens are stored.
 */
export const connectionsSchema = z
  .object({
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe(
        'where browsers reach keyward (origin and path prefix); the redirect URI to register at each provider is `<publicUrl>/oauth/callback`, exactly. Default: the origin of `server.http.publicUrl`, else the bound address',
      ),
    providers: z
      .record(name, oauthProviderSchema)
      .default({})
      .describe('the OAuth 2.0 / OpenID Connect providers people connect their accounts at'),
    signIn: z
      .object({
        issuer: z.string().url().describe('the OpenID Connect issuer people sign in with'),
        clientId: z.string().min(1).describe("keyward's client id there"),
        clientSecret: backendValueSchema
          .optional()
          .describe('read from a secret backend (absent: a public client)'),
        clientAuth: z
          .enum(['basic', 'body'])
          .default(DEFAULTS.connections.clientAuth)
          .describe('how the client authenticates to the token endpoint'),
        userClaim: z
          .string()
          .default(DEFAULTS.connections.userClaim)
          .describe("the ID token claim that must equal the principal's user"),
        scopes: z
          .array(z.string().min(1))
          .default(() => [...DEFAULTS.connections.signInScopes])
          .describe('scopes requested'),
        timeoutMs: z
          .number()
          .int()
          .positive()
          .max(60_000)
          .default(DEFAULTS.connections.timeoutMs)
          .describe('deadline of every request to the identity provider'),
      })
      .strict()
      .optional()
      .describe(
        'the identity provider people sign in to keyward with before consenting (`verifyUser: "signIn"`)',
      ),
    linkTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(3600)
      .default(DEFAULTS.connections.linkTtlSeconds)
      .describe(
        'how long a start link handed to an agent (the ticket in /oauth/start?ticket=…) stays usable, once',
      ),
    stateTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(3600)
      .default(DEFAULTS.connections.stateTtlSeconds)
      .describe('how long a started consent (`state`) may take at the provider'),
    waitSeconds: z
      .number()
      .int()
      .positive()
      .max(3600)
      .default(DEFAULTS.connections.waitSeconds)
      .describe("how long a call waits for the user's consent after a URL elicitation"),
  })
  .strict()
  .prefault({});
export type ConnectionsConfig = z.infer<typeof connectionsSchema>;

export const notifierSchema = z
  .object({
    webhook: z
      .object({
        url: z.string().url().describe('receives a JSON POST per alert'),
        timeoutMs: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.notifier.webhook.timeoutMs)
          .describe('deadline of one delivery'),
        retries: z
          .number()
          .int()
          .min(0)
          .max(5)
          .default(DEFAULTS.notifier.webhook.retries)
          .describe('retries of a failed delivery'),
      })
      .strict()
      .optional()
      .describe('where alerts (approval requests, repeated denials) are sent'),
    repeatedDenials: z
      .object({
        count: z
          .number()
          .int()
          .positive()
          .default(DEFAULTS.notifier.repeatedDenials.count)
          .describe('denials of one principal that raise an alert'),
        windowSeconds: z
          .number()
          .positive()
          .default(DEFAULTS.notifier.repeatedDenials.windowSeconds)
          .describe('within this many seconds'),
      })
      .strict()
      .prefault({})
      .describe('an alert when one principal is denied this often'),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    $schema: z
      .string()
      .optional()
      .describe('the JSON Schema, for editors (`schema/tools.config.schema.json`)'),
    agents: z.record(name, agentSchema).default({}).describe('principals known by name'),
    identity: identitySchema.describe('who a caller is: the stdio agent, or HTTP tokens'),
    backends: z
      .record(name, backendSchema)
      .default({})
      .describe('named secret backends; `type` picks the implementation'),
    credentials: z
      .record(name, credentialSchema)
      .default({})
      .describe('named credentials: where a secret is read and how it is sent'),
    tools: z.record(toolName, toolSchema).default({}).describe('tools by name: an upstream request each'),
    toolSources: z
      .array(toolSourceSchema)
      .default([])
      .describe('OpenAPI documents tools are generated from at startup ([openapi.md](openapi.md))'),
    policy: policySchema.describe('who may call what ([capabilities.md](capabilities.md))'),
    cache: cacheSchema,
    audit: auditSchema,
    grants: grantsSchema,
    server: z
      .object({
        http: httpServerSchema
          .optional()
          .describe(
            'remote mode (`serve --http`): Streamable HTTP on /mcp and legacy SSE ([deployment.md](deployment.md))',
          ),
      })
      .strict()
      .prefault({})
      .describe('the server modes'),
    notifier: notifierSchema.describe('alerts for operators'),
    console: consoleSchema.describe('the approval console for operators ([approvals.md](approvals.md))'),
    connections: connectionsSchema.describe(
      "per-user OAuth connections ([user-oauth.md](user-oauth.md)): keyward's `/oauth/start` and `/oauth/callback` pages on `serve --http`, the providers, and how a person proves they are the user",
    ),
    upstream: z
      .object({
        breaker: z
          .object({
            threshold: z
              .number()
              .gt(0)
              .max(1)
              .default(DEFAULTS.upstream.breaker.threshold)
              .describe('the share of failed calls that opens the breaker'),
            minimumCalls: z
              .number()
              .int()
              .positive()
              .default(DEFAULTS.upstream.breaker.minimumCalls)
              .describe('calls in the window before the breaker may open'),
            windowSeconds: z
              .number()
              .positive()
              .default(DEFAULTS.upstream.breaker.windowSeconds)
              .describe('the window failures are counted over'),
            openSeconds: z
              .number()
              .positive()
              .default(DEFAULTS.upstream.breaker.openSeconds)
              .describe('how long calls fail fast before one probe call decides whether it closes again'),
          })
          .strict()
          .prefault({})
          .describe(
            'one circuit breaker per upstream origin: when at least `threshold` of the calls to an origin in the last `windowSeconds` (and at least `minimumCalls` of them) failed with a 5xx, a network error or a timeout, calls to that origin fail fast with `upstream_error` and `retryAfterSeconds` (nothing is sent) for `openSeconds`',
          ),
      })
      .strict()
      .prefault({})
      .describe('calls to upstream APIs'),
    logging: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default(DEFAULTS.logging.level)
          .describe('also `serve --log-level`, or `KEYWARD_LOG_LEVEL`; logs go to stderr'),
      })
      .strict()
      .prefault({})
      .describe(
        'the log (pino, JSON on stderr, secrets scrubbed); traces have no config key: the standard `OTEL_*` environment variables switch them on ([observability.md](observability.md#traces))',
      ),
  })
  .strict();

export type KeywardConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
