/**
 * Token buckets in Redis, shared by every replica: one atomic Lua script refills by elapsed time
 * (Redis TIME, so replica clocks do not matter) and takes a token. Fail closed: when Redis cannot
 * answer, the call is refused with rate_limited and a short retryAfterSeconds, never allowed.
 */
import type { Redis } from 'ioredis';
import { KeywardError } from '../../core/errors.js';
import type { Logger } from '../../observability/logger.js';
import { createRedisClient, waitReady } from '../../cache/redis/redis-connection.js';
import { secondsUntilToken, type RateDecision, type RateLimit, type RateLimiter } from '../rate-limiter.js';

/** KEYS[1] bucket; ARGV capacity, tokens per ms, take (1/0). Returns {taken, tokens}. */
const BUCKET = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local taken = 0
if ARGV[3] == '1' and tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  taken = 1
end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate) + 1000)
end
return {taken, tostring(tokens)}
`;

export interface RedisRateLimiterOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

type BucketClient = Redis & {
  keywardBucket(key: string, capacity: number, ratePerMs: number, take: string): Promise<[number, string]>;
};

export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  private readonly client: BucketClient;

  constructor(private readonly options: RedisRateLimiterOptions) {
    const client = createRedisClient({
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs,
      logger: options.logger,
      name: 'keyward-ratelimit',
    });
    client.defineCommand('keywardBucket', { numberOfKeys: 1, lua: BUCKET });
    this.client = client as BucketClient;
  }

  /** Connects, waiting at most ~1.5 s (a down Redis fails calls closed; it does not block startup). */
  static async create(options: RedisRateLimiterOptions): Promise<RedisRateLimiter> {
    const limiter = new RedisRateLimiter(options);
    await waitReady(limiter.client, 1_500);
    return limiter;
  }

  private key(key: string): string {
    return `${this.options.keyPrefix}rl:${key}`;
  }

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    const ratePerMs = limit.requests / (limit.perSeconds * 1000);
    let result: [number, string];
    try {
      result = await this.client.keywardBucket(this.key(key), limit.requests, ratePerMs, '1');
    } catch (error) {
      this.options.logger.warn(
        { err: (error as Error).message },
        'rate limiter: redis unavailable, refusing (fail closed)',
      );
      throw new KeywardError(
        'rate_limited',
        'the shared rate limit cannot be checked right now; retry shortly',
        {
          retryAfterSeconds: 2,
          detail: 'redis rate limiter unavailable',
        },
      );
    }
    if (result[0] === 1) return { ok: true };
    return { ok: false, retryAfterSeconds: secondsUntilToken(Number(result[1]), limit) };
  }

  async remaining(key: string, limit: RateLimit): Promise<number> {
    const ratePerMs = limit.requests / (limit.perSeconds * 1000);
    try {
      const result = await this.client.keywardBucket(this.key(key), limit.requests, ratePerMs, '0');
      return Math.floor(Number(result[1]) + 1e-9);
    } catch {
      return 0;
    }
  }

  close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }
}
