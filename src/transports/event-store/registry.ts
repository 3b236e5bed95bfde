/**
 * Picks the event store of resumable streams: Redis (shared by replicas, events encrypted under a
 * key derived from `cache.encryptionKey`) when the cache is Redis with an encryption key; else
 * memory on this replica. `server.http.streams.resumable: false` turns resumability off.
 */
import type { KeywardConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { parseCacheKey } from '../../cache/redis/cache-crypto.js';
import { readSecretSource } from '../../secrets/bootstrap-value.js';
import type { EventStore } from './event-store.js';
import { MemoryEventStore } from './memory-event-store.js';

type HttpConfig = NonNullable<KeywardConfig['server']['http']>;

export async function createEventStore(
  config: KeywardConfig,
  http: HttpConfig,
  deps: { clock: Clock; logger: Logger; baseDir: string },
): Promise<EventStore | undefined> {
  const streams = http.streams;
  if (!streams.resumable) return undefined;
  const limits = { ttlMs: streams.eventTtlSeconds * 1000, maxSessionBytes: streams.maxSessionBytes };
  const cache = config.cache;
  if (cache.type === 'redis') {
    if (cache.encryptionKey === undefined) {
      deps.logger.warn(
        'cache.encryptionKey is not set: stream events stay in this replica’s memory (a client must reconnect to the same replica to resume)',
      );
    } else {
      let rootKey: Buffer;
      try {
        rootKey = parseCacheKey(readSecretSource(cache.encryptionKey, deps.baseDir));
      } catch (error) {
        throw new ConfigError(`cache.encryptionKey: ${(error as Error).message}`);
      }
      const { RedisEventStore } = await import('./redis-event-store.js');
      return RedisEventStore.create({
        ...limits,
        url: cache.url,
        keyPrefix: cache.keyPrefix,
        commandTimeoutMs: cache.commandTimeoutMs,
        logger: deps.logger,
        rootKey,
        sessionIdleMs: http.sessionIdleSeconds * 1000,
      });
    }
  }
  return new MemoryEventStore({ ...limits, clock: deps.clock, maxBytes: streams.maxBytes });
}
