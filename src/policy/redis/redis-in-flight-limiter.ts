/**
 * Calls in flight per principal across replicas: one sorted set of leases per principal in Redis
 * (member = lease id, score = expiry), taken and counted by one atomic Lua script. A lease expires
 * by itself (a replica that crashed mid-call frees its slots), after the longest a call may run.
 * When Redis cannot answer, the replica counts its own calls instead (logged): the cap is a
 * fairness control, and a Redis outage should not stop every call of every tenant.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import { createRedisClient, waitReady } from '../../cache/redis/redis-connection.js';
import { MemoryInFlightLimiter, type InFlightLimiter } from '../in-flight-limiter.js';

/** KEYS[1] leases; ARGV max, lease ttl ms, lease id ('' = only count). Returns {granted, inFlight}. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if ARGV[3] == '' or n >= tonumber(ARGV[1]) then return {0, n} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, n + 1}
`;

type LeaseClient = Redis & {
  keywardLease(key: string, max: number, ttlMs: number, lease: string): Promise<[number, number]>;
};

export interface RedisInFlightLimiterOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  readonly max: number;
  /** How long a lease lives if its call never releases it (a crashed replica). */
  readonly leaseTtlMs: number;
}

export class RedisInFlightLimiter implements InFlightLimiter {
  readonly max: number;
  private readonly client: LeaseClient;
  private readonly local: MemoryInFlightLimiter;

  private constructor(private readonly options: RedisInFlightLimiterOptions) {
    this.max = options.max;
    this.local = new MemoryInFlightLimiter(options.max);
    const client = createRedisClient({ ...options, name: 'keyward-in-flight' });
    client.defineCommand('keywardLease', { numberOfKeys: 1, lua: ACQUIRE });
    this.client = client as LeaseClient;
  }

  static async create(options: RedisInFlightLimiterOptions): Promise<RedisInFlightLimiter> {
    const limiter = new RedisInFlightLimiter(options);
    await waitReady(limiter.client, 1_500);
    return limiter;
  }

  private key(key: string): string {
    return `${this.options.keyPrefix}inflight:${encodeURIComponent(key)}`;
  }

  private fallback(error: unknown): void {
    this.options.logger.warn(
      { err: (error as Error).message },
      'in-flight limiter: redis unavailable, counting this replica only',
    );
  }

  async available(key: string): Promise<number> {
    try {
      const [, n] = await this.client.keywardLease(this.key(key), this.max, this.options.leaseTtlMs, '');
      return Math.max(0, this.max - Number(n));
    } catch (error) {
      this.fallback(error);
      return this.local.available(key);
    }
  }

  async tryAcquire(key: string): Promise<string | undefined> {
    const lease = randomUUID();
    try {
      const [granted] = await this.client.keywardLease(
        this.key(key),
        this.max,
        this.options.leaseTtlMs,
        lease,
      );
      return Number(granted) === 1 ? lease : undefined;
    } catch (error) {
      this.fallback(error);
      const local = await this.local.tryAcquire(key);
      return local === undefined ? undefined : `local:${local}`;
    }
  }

  async release(key: string, lease: string): Promise<void> {
    if (lease.startsWith('local:')) return this.local.release(key);
    // An unreleased lease expires by itself.
    await this.client.zrem(this.key(key), lease).catch(() => undefined);
  }

  close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }
}
