/**
 * The config of the `postgres` audit sink kind. Only zod and the shared rules: the implementation
 * (postgres-sink.ts, pg) is loaded by the registry with `import()` only when configured.
 */
import { z } from 'zod';
import { AUDIT_DEFAULTS, auditAnchor } from '../audit-config.js';

/** Part of `DEFAULTS.audit`. */
export const POSTGRES_AUDIT_DEFAULTS = { postgresSchema: 'keyward' } as const;

export const postgresAuditSchema = z
  .object({
    ...auditAnchor,
    type: z.literal('postgres').describe('PostgreSQL, shared by replicas'),
    url: z.string().min(1).describe('e.g. `postgres://…`'),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default(POSTGRES_AUDIT_DEFAULTS.postgresSchema)
      .describe('the database schema keyward creates its tables in'),
    statementTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(AUDIT_DEFAULTS.writeTimeoutMs)
      .describe('deadline of one statement'),
    connectTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(AUDIT_DEFAULTS.writeTimeoutMs)
      .describe('deadline to connect'),
  })
  .strict();
