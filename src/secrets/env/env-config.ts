/** The config of the `env` backend kind (environment variables; development only). */
import { z } from 'zod';
import { backendCommon } from '../backend-config.js';

/** `DEFAULTS.env`. */
export const ENV_BACKEND_DEFAULTS = { prefix: 'KEYWARD_SECRET_' } as const;

export const envBackendSchema = z
  .object({
    type: z.literal('env').describe('environment variables: development only, warns'),
    prefix: z.string().default(ENV_BACKEND_DEFAULTS.prefix).describe('the variable read is `<prefix><ref>`'),
    ...backendCommon,
  })
  .strict();
