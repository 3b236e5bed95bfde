/**
 * The RateLimiter contract, run against every implementation (memory; Redis on the machine's Redis
 * under a random key prefix, plain and sealed): N takes pass, the next is refused with the wait
 * until a token is back, buckets are per key, `remaining` does not take.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/observability/logger.js';
import { MemoryRateLimiter, type RateLimiter } from '../../src/policy/rate-limiter.js';
import { RedisRateLimiter } from '../../src/policy/redis/redis-rate-limiter.js';
import { StateSeal } from '../../src/policy/redis/state-seal.js';

const prefix = `kwtest:limiter-contract:${randomBytes(6).toString('hex')}:`;
let n = 0;

afterAll(async () => {
  const admin = new Redis('redis://127.0.0.1:6379');
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

const redis = (seal?: StateSeal) => () =>
  RedisRateLimiter.create({
    url: 'redis://127.0.0.1:6379',
    keyPrefix: `${prefix}${n++}:`,
    commandTimeoutMs: 1_000,
    logger: silentLogger(),
    ...(seal === undefined ? {} : { seal }),
  });

const implementations: [string, () => Promise<RateLimiter>][] = [
  ['memory', () => Promise.resolve(new MemoryRateLimiter(systemClock))],
  ['redis', redis()],
  ['redis (sealed)', redis(new StateSeal(randomBytes(32)))],
];

// One token per 1200 s: nothing refills during a test, so the figures are exact.
const limit = { requests: 3, perSeconds: 3600 };

describe.each(implementations)('RateLimiter contract: %s', (_name, make) => {
  it('N takes pass; the next is refused with the wait until a token is back', async () => {
    const limiter = await make();
    for (let i = 0; i < 3; i++) expect(await limiter.take('k', limit)).toEqual({ ok: true });
    const refused = await limiter.take('k', limit);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1_190);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(1_200);
    }
    await limiter.close();
  });

  it('keeps buckets apart per key, and remaining() does not take a token', async () => {
    const limiter = await make();
    expect(await limiter.remaining('a', limit)).toBe(3);
    expect(await limiter.remaining('a', limit)).toBe(3);
    await limiter.take('a', limit);
    await limiter.take('a', limit);
    expect(await limiter.remaining('a', limit)).toBe(1);
    expect(await limiter.remaining('b', limit)).toBe(3);
    expect(await limiter.take('b', limit)).toEqual({ ok: true });
    await limiter.close();
  });

  it('concurrent takes never exceed the bucket', async () => {
    const limiter = await make();
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter.take('c', limit)));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    await limiter.close();
  });
});
