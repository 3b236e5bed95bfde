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
import type { StateSeal } from './state-seal.js';

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

/**
 * KEYS[1] bucket; ARGV expected mac ('' = the bucket must not exist), tokens, ts, mac, ttl ms.
 * Compare-and-set of a sealed bucket: 1 written, 0 someone else wrote first (the caller retries).
 */
const SEALED_SET = `
local cur = redis.call('HGET', KEYS[1], 'mac')
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'tokens', ARGV[2], 'ts', ARGV[3], 'mac', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

export interface RedisRateLimiterOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /**
   * Seals every bucket (HMAC under a key Redis never sees, state-seal.ts), so a bucket refilled by
   * hand is refused: treated as empty, logged and alerted. Without it buckets are plain (warned).
   */
  readonly seal?: StateSeal;
  readonly onForged?: (what: { kind: string; id: string }) => void;
}

/** Attempts of the compare-and-set before a busy bucket answers "retry shortly". */
const CAS_ATTEMPTS = 64;

type BucketClient = Redis & {
  keywardBucket(key: string, capacity: number, ratePerMs: number, take: string): Promise<[number, string]>;
  keywardSealedSet(
    key: string,
    expected: string,
    tokens: string,
    ts: string,
    mac: string,
    ttlMs: string,
  ): Promise<number>;
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
    client.defineCommand('keywardSealedSet', { numberOfKeys: 1, lua: SEALED_SET });
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

  /**
   * The sealed bucket: read it with Redis TIME in one round trip, check its seal, refill and take
   * on this side, then compare-and-set (retried when another replica wrote in between).
   */
  private async sealedBucket(
    key: string,
    limit: RateLimit,
    take: boolean,
    seal: StateSeal,
  ): Promise<{ taken: boolean; tokens: number }> {
    const redisKey = this.key(key);
    const ratePerMs = limit.requests / (limit.perSeconds * 1000);
    const ttlMs = String(Math.ceil(limit.requests / ratePerMs) + 1000);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const replies = (await this.client.multi().time().hgetall(redisKey).exec()) ?? [];
      const [timeError, time] = replies[0] ?? [];
      const [stateError, state] = replies[1] ?? [];
      if (timeError || stateError) throw timeError ?? stateError;
      const [sec, micro] = time as [string, string];
      const now = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
      const s = (state ?? {}) as Record<string, string>;
      let tokens = limit.requests;
      let ts = now;
      const expected = s['mac'] ?? '';
      if (s['tokens'] !== undefined || s['mac'] !== undefined) {
        const json = seal.open(
          'bucket',
          redisKey,
          `kw1.${s['mac'] ?? ''}.${s['tokens'] ?? ''}|${s['ts'] ?? ''}`,
        );
        if (json === undefined) {
          // Refilled or rewritten around keyward: the bucket counts as empty from now.
          this.options.logger.error(
            { bucket: key },
            'state.forged: a rate-limit bucket in Redis fails its seal',
          );
          this.options.onForged?.({ kind: 'bucket', id: key });
          tokens = 0;
        } else {
          tokens = Number(s['tokens']);
          ts = Number(s['ts']);
        }
      }
      tokens = Math.min(limit.requests, tokens + Math.max(0, now - ts) * ratePerMs);
      if (!take) return { taken: false, tokens };
      const taken = tokens >= 1 - 1e-9;
      if (taken) tokens = Math.max(0, tokens - 1);
      const body = `${tokens}|${now}`;
      const mac = seal.seal('bucket', redisKey, body).split('.')[1]!;
      const written = await this.client.keywardSealedSet(
        redisKey,
        expected,
        String(tokens),
        String(now),
        mac,
        ttlMs,
      );
      if (Number(written) === 1) return { taken, tokens };
      // Another replica (or call) wrote first: back off a little, with jitter, and read again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20, 2 * (attempt + 1))));
    }
    throw new Error('rate-limit bucket busy');
  }

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    const ratePerMs = limit.requests / (limit.perSeconds * 1000);
    let result: [number, string];
    try {
      const seal = this.options.seal;
      if (seal !== undefined) {
        const sealed = await this.sealedBucket(key, limit, true, seal);
        result = [sealed.taken ? 1 : 0, String(sealed.tokens)];
      } else {
        result = await this.client.keywardBucket(this.key(key), limit.requests, ratePerMs, '1');
      }
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
      const seal = this.options.seal;
      if (seal !== undefined)
        return Math.floor((await this.sealedBucket(key, limit, false, seal)).tokens + 1e-9);
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
