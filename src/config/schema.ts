/**
 * The zod schema of tools.config.json (DESIGN.md §9). Secrets never appear here: only references
 * to files or environment variables (bootstrap values) and backend refs (API keys).
 * `keyward schema` prints the JSON Schema generated from this file for editor completion, and
 * `keyward schema --markdown docs/configuration.md` writes the reference tables of that document
 * from it: every field's description is in the schema (`.describe(…)`), every default in DEFAULTS.
 *
 * This file composes the schema (docs/architecture.md §2): each plugin family owns the fragment of
 * its kinds (`*-config.ts` beside the implementation: secrets/vault/vault-config.ts, …) and this
 * file builds the discriminated unions over `type` from them; the rules every part shares are
 * stated once, in core/config-rules.ts.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import {
  backendValueSchema,
  configName as name,
  headerName,
  secretSourceSchema,
  type SecretSource,
} from '../core/config-rules.js';
import { fileBackendSchema } from '../secrets/file/file-config.js';
import { envBackendSchema } from '../secrets/env/env-config.js';
import { vaultBackendSchema } from '../secrets/vault/vault-config.js';
import { awsBackendSchema } from '../secrets/aws/aws-config.js';
import { memoryCacheSchema } from '../cache/memory/memory-config.js';
import { redisCacheSchema } from '../cache/redis/redis-config.js';
import { sqliteAuditSchema } from '../audit/sqlite/sqlite-config.js';
import { postgresAuditSchema } from '../audit/postgres/postgres-config.js';
import { grantsSchema } from '../policy/grant-store-config.js';
import { staticTokensSchema } from '../identity/static-token-config.js';
import { jwtIdentitySchema } from '../identity/jwt-config.js';
import { injectSchema, normalizeInject } from '../upstream/inject-config.js';
import { streamsSchema } from '../transports/event-store/event-store-config.js';
import {
  connectionsSchema,
  oauthProviderSchema,
  type ConnectionsConfig,
  type OAuthProviderConfig,
} from '../connections/connections-config.js';

export { backendValueSchema, secretSourceSchema, type SecretSource };
export {
  fileBackendSchema,
  envBackendSchema,
  vaultBackendSchema,
  awsBackendSchema,
  grantsSchema,
  injectSchema,
  connectionsSchema,
  oauthProviderSchema,
  type ConnectionsConfig,
  type OAuthProviderConfig,
};

const toolName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'tool names must match [A-Za-z0-9_.-]{1,128} (MCP tool name rule)');

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
    tokens: staticTokensSchema,
    jwt: jwtIdentitySchema
      .optional()
      .describe(
        'JWT bearer tokens from your identity provider ([deployment](deployment.md#jwt-bearer-tokens-your-idp))',
      ),
  })
  .strict()
  .prefault({});

export const backendSchema = z.discriminatedUnion('type', [
  fileBackendSchema,
  vaultBackendSchema,
  awsBackendSchema,
  envBackendSchema,
]);
export type BackendConfig = z.infer<typeof backendSchema>;

export type InjectConfig = z.infer<typeof injectSchema>;

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
    structuredBodyMaxBytes: z
      .number()
      .int()
      .nonnegative()
      .default(DEFAULTS.upstream.structuredBodyMaxBytes)
      .describe(
        'a response body up to this size is returned twice: as text in `content` and (parsed, when JSON) in `structuredContent.body`; a larger one only as text, with `structuredContent.bodyInText: true` (parsing and writing a large body twice costs more CPU than the rest of the call)',
      ),
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
  .discriminatedUnion('type', [memoryCacheSchema, redisCacheSchema])
  .prefault({ type: DEFAULTS.cache.type })
  .describe('where resolved credentials are cached');

export const auditSchema = z
  .discriminatedUnion('type', [sqliteAuditSchema, postgresAuditSchema])
  .prefault({ type: DEFAULTS.audit.type })
  .describe('the tamper-evident audit trail ([audit.md](audit.md))');

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
    streams: streamsSchema,
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
        stdio: z
          .object({
            maxInFlight: z
              .number()
              .int()
              .positive()
              .default(DEFAULTS.stdio.maxInFlight)
              .describe(
                'tool calls the stdio client may run at once; beyond: `rate_limited` at once (a client that writes requests faster than upstreams answer cannot exhaust memory)',
              ),
          })
          .strict()
          .prefault({})
          .describe('stdio mode (`serve` without `--http`)'),
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
