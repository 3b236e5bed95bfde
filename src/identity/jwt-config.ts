/**
 * The config of the JWT verifier (`identity.jwt`). Only zod: the verifier (jwt-verifier.ts, jose)
 * is loaded with remote mode.
 */
import { z } from 'zod';

/** `DEFAULTS.identity.jwt`. */
export const JWT_DEFAULTS = {
  algorithms: ['RS256', 'ES256', 'EdDSA'],
  clockToleranceSeconds: 30,
  maxTokenLifetimeSeconds: 86_400,
  claims: { agent: 'sub', tenant: 'tenant', roles: 'roles', user: 'sub' },
} as const;

export const jwtIdentitySchema = z
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
        z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
      )
      .default(() => [...JWT_DEFAULTS.algorithms])
      .describe('accepted signature algorithms'),
    clockToleranceSeconds: z
      .number()
      .int()
      .min(0)
      .max(300)
      .default(JWT_DEFAULTS.clockToleranceSeconds)
      .describe('allowed clock skew for `exp`, `nbf` and `iat`'),
    maxTokenLifetimeSeconds: z
      .number()
      .int()
      .positive()
      .default(JWT_DEFAULTS.maxTokenLifetimeSeconds)
      .describe(
        'longest accepted lifetime (`exp − iat`, or `exp − now` without `iat`); longer tokens get 401',
      ),
    claims: z
      .object({
        agent: z.string().default(JWT_DEFAULTS.claims.agent).describe('the claim naming the agent'),
        tenant: z
          .string()
          .nullable()
          .default(JWT_DEFAULTS.claims.tenant)
          .describe('the claim naming the tenant; `null`: taken from `agents.<agent>` (or `default`)'),
        roles: z
          .string()
          .nullable()
          .default(JWT_DEFAULTS.claims.roles)
          .describe('the claim listing the roles; `null`: taken from `agents.<agent>` (or none)'),
        user: z
          .string()
          .nullable()
          .default(JWT_DEFAULTS.claims.user)
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
  .strict();
