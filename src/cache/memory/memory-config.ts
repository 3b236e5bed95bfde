/** The config of the `memory` cache kind (an in-process LRU; the default). */
import { z } from 'zod';

/** Part of `DEFAULTS.cache`. */
export const MEMORY_CACHE_DEFAULTS = { maxEntries: 10_000 } as const;

export const memoryCacheSchema = z
  .object({
    type: z.literal('memory').describe('an in-process LRU (the default)'),
    maxEntries: z
      .number()
      .int()
      .positive()
      .default(MEMORY_CACHE_DEFAULTS.maxEntries)
      .describe('LRU capacity'),
  })
  .strict();
