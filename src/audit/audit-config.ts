/**
 * The config every audit sink kind shares (its schema fragment spreads `auditAnchor`): the keyed
 * chain and the checkpoints outside the database, and the write deadline.
 */
import { z } from 'zod';
import { secretSourceSchema } from '../core/config-rules.js';

/** Part of `DEFAULTS.audit`. */
export const AUDIT_DEFAULTS = { writeTimeoutMs: 2_000, checkpointIntervalSeconds: 60 } as const;

export const auditAnchor = {
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
    .default(AUDIT_DEFAULTS.checkpointIntervalSeconds)
    .describe('how often a signed head is written'),
};
