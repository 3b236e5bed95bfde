/**
 * The config of per-user OAuth connections (`connections`): the providers, the sign-in, and the
 * lifetimes of links and consents. Consent state lives in a FlowStore (flow-store-registry.ts
 * picks Redis with a Redis cache, else memory): it has no config of its own.
 */
import { z } from 'zod';
import { backendValueSchema, configName } from '../core/config-rules.js';

/** `DEFAULTS.connections`. A link lives 10 min, a consent 10 min, a call waits 5 min. */
export const CONNECTIONS_DEFAULTS = {
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
} as const;

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
      .default(CONNECTIONS_DEFAULTS.clientAuth)
      .describe('how the client authenticates to the token endpoint'),
    scopes: z.array(z.string().min(1)).default([]).describe('scopes requested'),
    authorizationParams: z
      .record(z.string(), z.string())
      .default({})
      .describe('extra authorization request parameters (Google: `access_type: offline`, `prompt: consent`)'),
    verifyUser: z
      .enum(['signIn', 'idToken', 'none'])
      .default(CONNECTIONS_DEFAULTS.verifyUser)
      .describe(
        "how keyward checks that the person who consents is the user the tokens are stored for: `signIn` (they sign in to keyward at `connections.signIn` first; the signed-in `userClaim` must be the link's user), `idToken` (this provider is the identity provider: its ID token's `userClaim` must be the link's user), or `none` (only the single-use link binds them: a single-user, local setup)",
      ),
    userClaim: z
      .string()
      .default(CONNECTIONS_DEFAULTS.userClaim)
      .describe('the ID token claim compared with the user (`verifyUser: "idToken"`)'),
    refreshSkewSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(CONNECTIONS_DEFAULTS.refreshSkewSeconds)
      .describe('refresh an access token this long before it expires'),
    defaultLifetimeSeconds: z
      .number()
      .int()
      .min(0)
      .default(CONNECTIONS_DEFAULTS.defaultLifetimeSeconds)
      .describe('lifetime assumed for an access token issued without `expires_in` (0: until rejected)'),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(CONNECTIONS_DEFAULTS.timeoutMs)
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
      .record(configName, oauthProviderSchema)
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
          .default(CONNECTIONS_DEFAULTS.clientAuth)
          .describe('how the client authenticates to the token endpoint'),
        userClaim: z
          .string()
          .default(CONNECTIONS_DEFAULTS.userClaim)
          .describe("the ID token claim that must equal the principal's user"),
        scopes: z
          .array(z.string().min(1))
          .default(() => [...CONNECTIONS_DEFAULTS.signInScopes])
          .describe('scopes requested'),
        timeoutMs: z
          .number()
          .int()
          .positive()
          .max(60_000)
          .default(CONNECTIONS_DEFAULTS.timeoutMs)
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
      .default(CONNECTIONS_DEFAULTS.linkTtlSeconds)
      .describe(
        'how long a start link handed to an agent (the ticket in /oauth/start?ticket=…) stays usable, once',
      ),
    stateTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(3600)
      .default(CONNECTIONS_DEFAULTS.stateTtlSeconds)
      .describe('how long a started consent (`state`) may take at the provider'),
    waitSeconds: z
      .number()
      .int()
      .positive()
      .max(3600)
      .default(CONNECTIONS_DEFAULTS.waitSeconds)
      .describe("how long a call waits for the user's consent after a URL elicitation"),
  })
  .strict()
  .prefault({});
export type ConnectionsConfig = z.infer<typeof connectionsSchema>;
