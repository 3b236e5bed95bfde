/**
 * The config of the injection kinds (`credentials.*.inject`: header, bearer, query, basic, OAuth2
 * client credentials, OAuth2 refresh token), and the DESIGN.md shorthand without `type`.
 */
import { z } from 'zod';
import { headerName } from '../core/config-rules.js';

/** `DEFAULTS.inject`. */
export const INJECT_DEFAULTS = {
  headerFormat: '{value}',
  usernameField: 'username',
  passwordField: 'password',
  clientIdField: 'client_id',
  clientSecretField: 'client_secret',
  refreshTokenField: 'refresh_token',
  clientAuth: 'basic',
  refreshSkewSeconds: 30,
} as const;

export const injectSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('header').describe('sends the value in a header'),
      header: headerName.describe('the header name, e.g. `X-Api-Key`'),
      format: z
        .string()
        .includes('{value}')
        .default(INJECT_DEFAULTS.headerFormat)
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
        .default(INJECT_DEFAULTS.usernameField)
        .describe('the field of the secret holding the username'),
      username: z.string().optional().describe('a fixed, non-secret username instead of usernameField'),
      passwordField: z
        .string()
        .default(INJECT_DEFAULTS.passwordField)
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
        .default(INJECT_DEFAULTS.clientIdField)
        .describe('the field of the secret holding the client id'),
      clientSecretField: z
        .string()
        .default(INJECT_DEFAULTS.clientSecretField)
        .describe('the field of the secret holding the client secret'),
      scopes: z.array(z.string()).default([]).describe('scopes requested'),
      audience: z.string().optional().describe('the `audience` parameter, for providers that need one'),
      clientAuth: z
        .enum(['basic', 'body'])
        .default(INJECT_DEFAULTS.clientAuth)
        .describe('how the client authenticates to the token endpoint'),
      refreshSkewSeconds: z
        .number()
        .int()
        .min(0)
        .default(INJECT_DEFAULTS.refreshSkewSeconds)
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
        .default(INJECT_DEFAULTS.clientIdField)
        .describe('the field of the secret holding the client id'),
      clientSecretField: z
        .string()
        .default(INJECT_DEFAULTS.clientSecretField)
        .describe('the field of the secret holding the client secret'),
      refreshTokenField: z
        .string()
        .default(INJECT_DEFAULTS.refreshTokenField)
        .describe('the field of the secret holding the refresh token'),
      scopes: z.array(z.string()).default([]).describe('scopes requested'),
      clientAuth: z
        .enum(['basic', 'body'])
        .default(INJECT_DEFAULTS.clientAuth)
        .describe(
          'how the client authenticates to the token endpoint (public clients without a secret: body)',
        ),
      refreshSkewSeconds: z
        .number()
        .int()
        .min(0)
        .default(INJECT_DEFAULTS.refreshSkewSeconds)
        .describe('refresh this long before the access token expires'),
    })
    .strict(),
]);
/** The DESIGN.md §9 shorthand `{ "header": …, "format": … }` / `{ "query": … }` without `type`. */
export function normalizeInject(value: unknown): unknown {
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
