/**
 * ioredis clients configured to fail fast: no offline queue (a down Redis is an immediate error,
 * never a hang), short command and connect timeouts, reconnect forever with capped backoff.
 * Shared by the Redis cache, grant store and rate limiter.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';

export interface RedisClientOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** Shown in CLIENT LIST and in log lines. */
  readonly name: string;
  /** Subscriber connections queue SUBSCRIBE until connected (they carry no request traffic). */
  readonly subscriber?: boolean;
}

export function createRedisClient(options: RedisClientOptions): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: options.subscriber === true,
    commandTimeout: options.subscriber === true ? undefined : options.commandTimeoutMs,
    connectTimeout: 1_000,
    maxRetriesPerRequest: options.subscriber === true ? null : 0,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    connectionName: options.name,
    lazyConnect: false,
  });
  let down = false;
  client.on('error', (error: Error) => {
    // ioredis emits an error per failed reconnect: log the first of each outage only.
    if (!down) options.logger.warn({ redis: options.name, err: error.message }, 'redis unavailable');
    down = true;
  });
  client.on('ready', () => {
    if (down) options.logger.info({ redis: options.name }, 'redis reconnected');
    down = false;
  });
  return client;
}

/** Resolves once the client is ready or after `timeoutMs`, whichever is first; never rejects. */
export function waitReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    timer.unref();
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

/** Redacts the password of a redis:// URL for messages. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis (unparseable url)';
  }
}
