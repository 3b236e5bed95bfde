/**
 * The CredentialCache contract, run against every implementation (memory; Redis on the machine's
 * Redis under a random key prefix): an entry round-trips exactly, is gone after its staleUntil,
 * and invalidation by key and by prefix drops exactly what it names.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheEntry, CredentialCache } from '../../src/cache/credential-cache.js';
import { MemoryCache } from '../../src/cache/memory/memory-cache.js';
import { RedisCache } from '../../src/cache/redis/redis-cache.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/observability/logger.js';

const prefix = `kwtest:cache-contract:${randomBytes(6).toString('hex')}:`;
let n = 0;

afterAll(async () => {
  const admin = new Redis('redis://127.0.0.1:6379');
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

const implementations: [string, () => Promise<CredentialCache>][] = [
  ['memory', () => Promise.resolve(new MemoryCache(100, systemClock))],
  [
    'redis',
    () =>
      RedisCache.create({
        url: 'redis://127.0.0.1:6379',
        keyPrefix: `${prefix}${n++}:`,
        encryptionKey: randomBytes(32),
        commandTimeoutMs: 1_000,
        clock: systemClock,
        logger: silentLogger(),
      }),
  ],
];

function entry(value: string, lifetimeMs = 60_000): CacheEntry {
  const now = systemClock.now();
  return {
    secret: { value, version: '7', keyId: 'api', fields: { token: value, user: 'u' } },
    freshUntil: now + lifetimeMs / 2,
    staleUntil: now + lifetimeMs,
  };
}

describe.each(implementations)('CredentialCache contract: %s', (_name, make) => {
  it('an entry round-trips exactly', async () => {
    const cache = await make();
    const e = entry(`v-${randomBytes(8).toString('hex')}`);
    await cache.set('kw:api:t1', e);
    expect(await cache.get('kw:api:t1')).toEqual(e);
    expect(await cache.get('kw:api:t2')).toBeUndefined();
    await cache.close();
  });

  it('is gone after its staleUntil', async () => {
    const cache = await make();
    await cache.set('kw:short', entry('short', 150));
    expect(await cache.get('kw:short')).toBeDefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(await cache.get('kw:short')).toBeUndefined();
    await cache.close();
  });

  it('invalidates one key, or every key under a prefix, and nothing else', async () => {
    const cache = await make();
    for (const k of ['kw:a:1', 'kw:a:2', 'kw:b:1', 'kw:b:2']) await cache.set(k, entry(k));
    await cache.invalidate('kw:b:2');
    expect(await cache.get('kw:b:2')).toBeUndefined();
    await cache.invalidatePrefix?.('kw:a:');
    if (cache.invalidatePrefix !== undefined) {
      expect(await cache.get('kw:a:1')).toBeUndefined();
      expect(await cache.get('kw:a:2')).toBeUndefined();
    }
    expect((await cache.get('kw:b:1'))?.secret.value).toBe('kw:b:1');
    await cache.close();
  });
});
