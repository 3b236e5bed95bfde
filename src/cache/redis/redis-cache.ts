/**
 * The shared credential cache: entries AES-256-GCM sealed in Redis (key never sent to Redis),
 * invalidations broadcast over pub/sub so every replica drops a rotated or revoked key at once.
 * A local memory copy answers while Redis is down, so calls keep working and never hang on it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { KeywardConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { readSecretSource } from '../../secrets/bootstrap-value.js';
import type { CacheEntry, CredentialCache } from '../credential-cache.js';
import { MemoryCache } from '../memory/memory-cache.js';
import { openEntry, parseCacheKey, sealEntry } from './cache-crypto.js';
import { createRedisClient, describeRedisUrl, waitReady } from './redis-connection.js';

export interface RedisCacheOptions {
  readonly url: string;
  readonly keyPrefix: string;
  /** 32-byte AES key. */
  readonly encryptionKey: Buffer;
  readonly commandTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Entries of the local fallback copy. */
  readonly localEntries?: number;
}

interface InvalidationMessage {
  readonly from: string;
  readonly key?: string;
  readonly prefix?: string;
}

export interface RedisCacheStats {
  hits: number;
  misses: number;
  /** Reads answered from the local copy because Redis failed. */
  fallbacks: number;
  /** Blobs that failed to decrypt (wrong key, swapped between keys, tampered). */
  rejected: number;
  errors: number;
}

export class RedisCache implements CredentialCache {
  readonly kind = 'redis';
  private readonly instance = randomUUID();
  private readonly local: MemoryCache;
  private readonly listeners: ((key: string) => void)[] = [];
  private readonly channel: string;
  private readonly counters: RedisCacheStats = { hits: 0, misses: 0, fallbacks: 0, rejected: 0, errors: 0 };
  private closed = false;

  private constructor(
    private readonly options: RedisCacheOptions,
    private readonly client: Redis,
    private readonly subscriber: Redis,
  ) {
    this.local = new MemoryCache(options.localEntries ?? 10_000, options.clock);
    this.channel = `${options.keyPrefix}invalidate`;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.onMessage(message);
    });
  }

  /** Connects (waiting at most ~1 s: a down Redis does not block startup) and subscribes. */
  static async create(options: RedisCacheOptions): Promise<RedisCache> {
    const client = createRedisClient({
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs,
      logger: options.logger,
      name: 'keyward-cache',
    });
    const subscriber = createRedisClient({
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs,
      logger: options.logger,
      name: 'keyward-cache-sub',
      subscriber: true,
    });
    const cache = new RedisCache(options, client, subscriber);
    subscriber.subscribe(cache.channel).catch((error: unknown) => {
      options.logger.warn({ err: (error as Error).message }, 'redis cache: subscribe failed');
    });
    const ready = await waitReady(client, 1_500);
    if (!ready) {
      options.logger.warn(
        { redis: describeRedisUrl(options.url) },
        'redis cache not reachable at start: serving from the local cache until it is',
      );
    }
    return cache;
  }

  private redisKey(key: string): string {
    return `${this.options.keyPrefix}c:${key}`;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    let blob: Buffer | null;
    try {
      blob = await this.client.getBuffer(this.redisKey(key));
    } catch (error) {
      this.failed(error, 'get');
      const entry = await this.local.get(key);
      if (entry !== undefined) this.counters.fallbacks++;
      return entry;
    }
    if (blob === null) {
      this.counters.misses++;
      // Redis is the source of truth while it answers: another replica may have invalidated.
      await this.local.invalidate(key);
      return undefined;
    }
    const entry = openEntry(this.options.encryptionKey, key, blob);
    if (entry === undefined) {
      this.counters.rejected++;
      this.counters.misses++;
      this.options.logger.warn(
        { cacheKey: key },
        'redis cache: entry failed authentication; treating as a miss',
      );
      return undefined;
    }
    if (this.options.clock.now() >= entry.staleUntil) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    await this.local.set(key, entry);
    return entry;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    await this.local.set(key, entry);
    const ttlMs = Math.ceil(entry.staleUntil - this.options.clock.now());
    if (ttlMs <= 0) return;
    try {
      await this.client.set(
        this.redisKey(key),
        sealEntry(this.options.encryptionKey, key, entry),
        'PX',
        ttlMs,
      );
    } catch (error) {
      this.failed(error, 'set');
    }
  }

  async invalidate(key: string): Promise<void> {
    await this.local.invalidate(key);
    try {
      await this.client.del(this.redisKey(key));
      await this.publish({ from: this.instance, key });
    } catch (error) {
      this.failed(error, 'invalidate');
    }
  }

  async invalidatePrefix(prefix: string): Promise<void> {
    await this.local.invalidatePrefix(prefix);
    try {
      const pattern = `${escapeGlob(this.redisKey(prefix))}*`;
      let cursor = '0';
      do {
        const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await this.client.del(...keys);
      } while (cursor !== '0');
      await this.publish({ from: this.instance, prefix });
    } catch (error) {
      this.failed(error, 'invalidatePrefix');
    }
  }

  onInvalidate(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  async probe(): Promise<{ ok: boolean; message: string }> {
    try {
      await this.client.ping();
      return { ok: true, message: `redis cache at ${describeRedisUrl(this.options.url)} reachable` };
    } catch (error) {
      return {
        ok: false,
        message: `redis cache at ${describeRedisUrl(this.options.url)} unreachable (${(error as Error).message}); serving from the local cache`,
      };
    }
  }

  /** Hit, miss, fallback and rejection counters (metrics). */
  stats(): RedisCacheStats {
    return { ...this.counters };
  }

  /** Whether the command connection is up. */
  get connected(): boolean {
    return this.client.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.local.close();
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private async publish(message: InvalidationMessage): Promise<void> {
    await this.client.publish(this.channel, JSON.stringify(message));
  }

  private onMessage(raw: string): void {
    let message: InvalidationMessage;
    try {
      message = JSON.parse(raw) as InvalidationMessage;
    } catch {
      return;
    }
    if (message.from === this.instance) return;
    const done =
      typeof message.key === 'string'
        ? this.local.invalidate(message.key)
        : typeof message.prefix === 'string'
          ? this.local.invalidatePrefix(message.prefix)
          : Promise.resolve();
    void done.then(() => {
      const key = message.key ?? message.prefix;
      if (key !== undefined) for (const listener of this.listeners) listener(key);
    });
  }

  private failed(error: unknown, op: string): void {
    this.counters.errors++;
    this.options.logger.debug({ op, err: (error as Error).message }, 'redis cache command failed');
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

type RedisCacheConfig = Extract<KeywardConfig['cache'], { type: 'redis' }>;

/** Builds the Redis cache from config: the encryption key from its SecretSource, or a random per-process key. */
export async function createRedisCacheFromConfig(
  config: RedisCacheConfig,
  deps: { clock: Clock; logger: Logger; baseDir: string },
): Promise<RedisCache> {
  let encryptionKey: Buffer;
  if (config.encryptionKey !== undefined) {
    try {
      encryptionKey = parseCacheKey(readSecretSource(config.encryptionKey, deps.baseDir));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`cache.encryptionKey: ${(error as Error).message}`);
    }
  } else {
    encryptionKey = randomBytes(32);
    deps.logger.warn(
      'cache.encryptionKey is not set: using a random per-process key, so replicas cannot share cached credentials',
    );
  }
  return RedisCache.create({
    url: config.url,
    keyPrefix: config.keyPrefix,
    encryptionKey,
    commandTimeoutMs: config.commandTimeoutMs,
    clock: deps.clock,
    logger: deps.logger,
  });
}
