/**
 * The config rules every part of the schema shares, stated once (issue 13): names, header names,
 * where a bootstrap value is read from, where a secret keyward reads lives. The plugin families'
 * schema fragments (`*-config.ts` beside each implementation) and config/schema.ts build on these.
 */
import { z } from 'zod';

/** A name in a map of the config (agents, backends, credentials, roles, tenants). */
export const configName = z.string().min(1).max(128);

/** An HTTP header name (RFC 9110 token). */
export const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name');

/** Where a bootstrap value (Vault token, AppRole ids, cache key) is read from. Never a literal. */
export const secretSourceSchema = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
]);
export type SecretSource = z.infer<typeof secretSourceSchema>;

/** Where a secret value keyward reads is taken from: a backend ref, never the config. */
export const backendValueSchema = z
  .object({
    backend: configName.describe('a name from `backends`'),
    ref: z.string().min(1).describe('the backend path or name'),
    field: z.string().optional().describe('a field of a structured secret'),
  })
  .strict();
