/**
 * The config of the `redis` cache kind. Only zod and the shared rules: the implementation
 * (redis-cache.ts, ioredis) is loaded by the registry with `import()` only when configured.
 */
import { z } from 'zod';
import { secretSourceSchema } from '../../core/config-rules.js';

/** `DEFAULTS.cache.redis`. */
export const REDIS_CACHE_DEFAULTS = { keyPrefix: 'keyward:', commandTimeoutMs: 500 } as const;

export const redisCacheSchema = z
  .object({
    type: z
      .literal('redis')
      .describe(
        'Redis, shared by replicas (also holds grants with `grants.store` redis, shared rate limits, consent state and resumable stream events)',
      ),
    url: z.string().min(1).describe('e.g. `redis://127.0.0.1:6379`'),
    keyPrefix: z
      .string()
      .default(REDIS_CACHE_DEFAULTS.keyPrefix)
      .describe('prefix of every key keyward writes'),
    encryptionKey: secretSourceSchema
      .optional()
      .describe(
        '32-byte AES key (base64 or hex) sealing cached values, grants and shared state; Redis never sees it',
      ),
    commandTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(REDIS_CACHE_DEFAULTS.commandTimeoutMs)
      .describe('deadline of one Redis command'),
  })
  .strict();
