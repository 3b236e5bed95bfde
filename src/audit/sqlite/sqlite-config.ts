/** The config of the `sqlite` audit sink kind (a local file with a write-ahead journal; the default). */
import { z } from 'zod';
import { auditAnchor } from '../audit-config.js';

/** Part of `DEFAULTS.audit`. */
export const SQLITE_AUDIT_DEFAULTS = { sqlitePath: '~/.keyward/audit.db' } as const;

export const sqliteAuditSchema = z
  .object({
    type: z.literal('sqlite').describe('a local SQLite file with a write-ahead journal (the default)'),
    path: z.string().default(SQLITE_AUDIT_DEFAULTS.sqlitePath).describe('the database file'),
    ...auditAnchor,
  })
  .strict();
