/** Picks the CredentialCache implementation named by `config.cache.type`. */
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { KeywardConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { CredentialCache } from './credential-cache.js';
import { MemoryCache } from './memory/memory-cache.js';

export interface CacheDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Directory relative paths (e.g. an encryption key file) are resolved against. */
  readonly baseDir: string;
}

export async function createCredentialCache(
  config: KeywardConfig['cache'],
  deps: CacheDeps,
): Promise<CredentialCache> {
  switch (config.type) {
    case 'memory':
      return new MemoryCache(config.maxEntries, deps.clock);
    case 'redis': {
      // Loaded only when configured (ioredis is a large share of a cold start).
      const { createRedisCacheFromConfig } = await import('./redis/redis-cache.js');
      return createRedisCacheFromConfig(config, deps);
    }
    default: {
      const unknown: never = config;
      throw new ConfigError(`unknown cache type ${String((unknown as { type: unknown }).type)}`);
    }
  }
}
