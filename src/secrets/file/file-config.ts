/** The config of the `file` backend kind (the embedded encrypted store; the default). */
import { z } from 'zod';
import { backendCommon } from '../backend-config.js';

/** `DEFAULTS.file`. */
export const FILE_BACKEND_DEFAULTS = {
  storePath: '~/.keyward/secrets.enc',
  keyPath: '~/.keyward/master.key',
  createIfMissing: false,
} as const;

export const fileBackendSchema = z
  .object({
    type: z.literal('file').describe('the embedded encrypted file store (the default)'),
    path: z.string().default(FILE_BACKEND_DEFAULTS.storePath).describe('the encrypted store'),
    keyPath: z.string().default(FILE_BACKEND_DEFAULTS.keyPath).describe('the master key file'),
    createIfMissing: z
      .boolean()
      .default(FILE_BACKEND_DEFAULTS.createIfMissing)
      .describe(
        'create the key file (0600) and an empty store on first use when neither exists (never when only one does)',
      ),
    ...backendCommon,
  })
  .strict();
