/** Picks where consent state lives: Redis (shared by replicas) with a Redis cache, else memory. */
import type { KeywardConfig } from '../config/schema.js';
import { parseCacheKey } from '../cache/redis/cache-crypto.js';
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import { readSecretSource } from '../secrets/bootstrap-value.js';
import type { FlowStore } from './flows.js';

export async function createFlowStore(
  config: KeywardConfig,
  deps: { clock: Clock; logger: Logger; baseDir: string },
): Promise<FlowStore | undefined> {
  const hasConnections = Object.values(config.credentials).some((c) => c.connection !== undefined);
  if (!hasConnections || config.cache.type !== 'redis') return undefined;
  if (config.cache.encryptionKey === undefined)
    throw new ConfigError(
      'user connections with a Redis cache need cache.encryptionKey: it seals the consent state replicas share',
      [{ path: 'cache.encryptionKey', message: 'required with connections and a redis cache' }],
    );
  let key: Buffer;
  try {
    key = parseCacheKey(readSecretSource(config.cache.encryptionKey, deps.baseDir));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cache.encryptionKey: ${(error as Error).message}`);
  }
  const { StateSeal } = await import('../policy/redis/state-seal.js');
  const { createRedisClient } = await import('../cache/redis/redis-connection.js');
  const { RedisFlowStore } = await import('./redis-flow-store.js');
  return new RedisFlowStore({
    client: createRedisClient({
      url: config.cache.url,
      commandTimeoutMs: config.cache.commandTimeoutMs,
      logger: deps.logger,
      name: 'keyward-oauth',
    }),
    keyPrefix: config.cache.keyPrefix,
    seal: new StateSeal(key),
    clock: deps.clock,
    logger: deps.logger,
  });
}
