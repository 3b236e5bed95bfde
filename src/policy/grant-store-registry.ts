/**
 * Picks the GrantStore and RateLimiter implementations from config (composition root only).
 * `grants.store: redis` is provided by the remote mode (it registers its factory here).
 */
import type { KeywardConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { GrantStore } from './grant-store.js';
import { MemoryGrantStore } from './memory-grant-store.js';
import { MemoryRateLimiter, type RateLimiter } from './rate-limiter.js';
import { SqliteGrantStore } from './sqlite/sqlite-grant-store.js';
import { parseCacheKey } from '../cache/redis/cache-crypto.js';
import { readSecretSource } from '../secrets/bootstrap-value.js';
import type { StateSeal } from './redis/state-seal.js';

export interface StoreDeps {
  readonly config: KeywardConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Where relative secret sources (cache.encryptionKey: { file }) are resolved. */
  readonly baseDir?: string;
  /** A shared-state record failed its seal (raise the `state.forged` alert). */
  readonly onForged?: (what: { kind: string; id: string }) => void;
}

type GrantStoreFactory = (deps: StoreDeps) => Promise<GrantStore> | GrantStore;
type RateLimiterFactory = (deps: StoreDeps) => Promise<RateLimiter> | RateLimiter;

const grantStoreFactories = new Map<string, GrantStoreFactory>([
  ['sqlite', ({ config }) => new SqliteGrantStore({ path: config.grants.path })],
  ['memory', () => new MemoryGrantStore()],
  [
    'redis',
    async ({ config, logger, baseDir, onForged }) => {
      const { RedisGrantStore } = await import('./redis/redis-grant-store.js');
      const { StateSeal } = await import('./redis/state-seal.js');
      const seal = new StateSeal(sealKey(config, baseDir ?? process.cwd()));
      return RedisGrantStore.create({
        ...redisOf(config, 'grants.store'),
        logger,
        seal,
        ...(onForged === undefined ? {} : { onForged }),
      });
    },
  ],
]);

/**
 * Grants in Redis are sealed under a key Redis never sees: `cache.encryptionKey`, which every
 * replica and `keyward grants` share. Without it a forged grant could not be told from a real one,
 * so it is required.
 */
function sealKey(config: KeywardConfig, baseDir: string): Buffer {
  const source = config.cache.type === 'redis' ? config.cache.encryptionKey : undefined;
  if (source === undefined) {
    throw new ConfigError('grants.store redis needs cache.encryptionKey (it seals grants against forgery)', [
      {
        path: 'cache.encryptionKey',
        message: 'set a 32-byte key shared by every replica: { "env": "…" } or { "file": "…" }',
      },
    ]);
  }
  try {
    return parseCacheKey(readSecretSource(source, baseDir));
  } catch (error) {
    throw new ConfigError(`cache.encryptionKey: ${(error as Error).message}`);
  }
}

/** grants.store redis (and the shared rate limiter) use the Redis of `cache` (type redis). */
function redisOf(
  config: KeywardConfig,
  path: string,
): { url: string; keyPrefix: string; commandTimeoutMs: number } {
  if (config.cache.type !== 'redis') {
    throw new ConfigError(`${path} redis needs cache.type redis (its url is shared)`, [
      { path, message: 'set cache to { "type": "redis", "url": "redis://…" }' },
    ]);
  }
  return {
    url: config.cache.url,
    keyPrefix: config.cache.keyPrefix,
    commandTimeoutMs: config.cache.commandTimeoutMs,
  };
}

/** Registers another store kind (e.g. `redis` from the remote mode). */
export function registerGrantStore(kind: string, factory: GrantStoreFactory): void {
  grantStoreFactories.set(kind, factory);
}

// With a Redis cache, limits are shared by every replica; else in memory. With cache.encryptionKey
// the buckets are sealed (a bucket refilled by hand counts as empty), without it they are plain.
let rateLimiterFactory: RateLimiterFactory = async ({ config, clock, logger, baseDir, onForged }) => {
  if (config.cache.type !== 'redis') return new MemoryRateLimiter(clock);
  const { RedisRateLimiter } = await import('./redis/redis-rate-limiter.js');
  let seal: StateSeal | undefined;
  if (config.cache.encryptionKey !== undefined) {
    const { StateSeal } = await import('./redis/state-seal.js');
    seal = new StateSeal(sealKey(config, baseDir ?? process.cwd()));
  } else {
    logger.warn(
      'cache.encryptionKey is not set: shared rate-limit buckets in Redis are not sealed (anyone who can write Redis can refill them)',
    );
  }
  return RedisRateLimiter.create({
    ...redisOf(config, 'cache'),
    logger,
    ...(seal === undefined ? {} : { seal }),
    ...(onForged === undefined ? {} : { onForged }),
  });
};

/** Replaces the rate limiter factory (the remote mode picks Redis when configured). */
export function registerRateLimiter(factory: RateLimiterFactory): void {
  rateLimiterFactory = factory;
}

export async function createGrantStore(deps: StoreDeps): Promise<GrantStore> {
  const kind = deps.config.grants.store;
  const factory = grantStoreFactories.get(kind);
  if (factory === undefined) {
    throw new ConfigError(`grants.store "${kind}" is not available`, [
      { path: 'grants.store', message: `no "${kind}" grant store in this build; use sqlite or memory` },
    ]);
  }
  return factory(deps);
}

export async function createRateLimiter(deps: StoreDeps): Promise<RateLimiter> {
  return rateLimiterFactory(deps);
}
