import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheEntry } from '../../../src/cache/credential-cache.js';
import { openEntry, parseCacheKey, sealEntry } from '../../../src/cache/redis/cache-crypto.js';
import { RedisCache } from '../../../src/cache/redis/redis-cache.js';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { PrivateRedis } from '../../helpers/private-redis.js';

const SHARED = 'redis://127.0.0.1:6379';
const canary = () => `cnry_${randomBytes(16).toString('hex')}`;

function entry(value: string, ttlMs = 60_000): CacheEntry {
  const now = Date.now();
  return {
    secret: { value, version: '3', keyId: 'file:github' },
    freshUntil: now + ttlMs,
    staleUntil: now + ttlMs * 2,
  };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cache crypto', () => {
  const key = randomBytes(32);
  it('round-trips and binds the ciphertext to its cache key and encryption key', () => {
    const e = entry(canary());
    const blob = sealEntry(key, 'kw:a:tenant-a', e);
    expect(blob.toString('latin1')).not.toContain(e.secret.value);
    expect(openEntry(key, 'kw:a:tenant-a', blob)).toEqual(e);
    expect(openEntry(key, 'kw:a:tenant-b', blob)).toBeUndefined();
    expect(openEntry(randomBytes(32), 'kw:a:tenant-a', blob)).toBeUndefined();
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    expect(openEntry(key, 'kw:a:tenant-a', tampered)).toBeUndefined();
  });
  it('parses hex and base64 keys of 32 bytes only', () => {
    const raw = randomBytes(32);
    expect(parseCacheKey(raw.toString('hex'))).toEqual(raw);
    expect(parseCacheKey(raw.toString('base64'))).toEqual(raw);
    expect(() => parseCacheKey(randomBytes(16).toString('hex'))).toThrow(/32 bytes/);
  });
});

describe('RedisCache on the shared Redis', () => {
  const prefix = `kwtest:${randomBytes(6).toString('hex')}:`;
  const encryptionKey = randomBytes(32);
  const caches: RedisCache[] = [];
  let admin: Redis;

  const make = () =>
    RedisCache.create({
      url: SHARED,
      keyPrefix: prefix,
      encryptionKey,
      commandTimeoutMs: 200,
      clock: systemClock,
      logger: silentLogger(),
    }).then((c) => (caches.push(c), c));

  beforeAll(() => {
    admin = new Redis(SHARED);
  });
  afterAll(async () => {
    for (const c of caches) await c.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('shares entries between replicas and stores no plaintext', async () => {
    const [a, b] = [await make(), await make()];
    const value = canary();
    await a.set('kw:x:ref1:f', entry(value));
    expect((await b.get('kw:x:ref1:f'))?.secret.value).toBe(value);
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      const raw = await admin.getBuffer(k);
      expect(raw?.toString('latin1') ?? '').not.toContain(value);
      expect(raw?.toString('latin1') ?? '').not.toContain(Buffer.from(value).toString('base64'));
    }
    const ttl = await admin.pttl(`${prefix}c:kw:x:ref1:f`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('treats a ciphertext copied under another tenant key as a miss', async () => {
    const a = await make();
    await a.set('kw:x:tenantA:f', entry(canary()));
    const blob = await admin.getBuffer(`${prefix}c:kw:x:tenantA:f`);
    await admin.set(`${prefix}c:kw:x:tenantB:f`, blob!);
    expect(await a.get('kw:x:tenantB:f')).toBeUndefined();
    expect(a.stats().rejected).toBe(1);
  });

  it('broadcasts invalidation: another replica drops a key and a ref prefix at once', async () => {
    const [a, b] = [await make(), await make()];
    const seen: string[] = [];
    b.onInvalidate((k) => seen.push(k));
    await a.set('kw:y:ref:1', entry(canary()));
    await a.set('kw:y:ref:2', entry(canary()));
    await a.set('kw:y:other:1', entry(canary()));
    expect(await b.get('kw:y:ref:1')).toBeDefined();
    await a.invalidate('kw:y:ref:1');
    expect(await b.get('kw:y:ref:1')).toBeUndefined();
    await until(() => seen.includes('kw:y:ref:1'));
    await a.invalidatePrefix('kw:y:ref:');
    expect(await b.get('kw:y:ref:2')).toBeUndefined();
    expect(await b.get('kw:y:other:1')).toBeDefined();
    await until(() => seen.includes('kw:y:ref:'));
  });

  it('expires entries past staleUntil', async () => {
    const a = await make();
    const now = Date.now();
    await a.set('kw:z:gone', {
      secret: { value: canary(), version: '1', keyId: 'k' },
      freshUntil: now - 10,
      staleUntil: now - 5,
    });
    expect(await a.get('kw:z:gone')).toBeUndefined();
    expect(await admin.exists(`${prefix}c:kw:z:gone`)).toBe(0);
  });
});

describe('RedisCache when Redis goes down', () => {
  let redis: PrivateRedis;
  const caches: RedisCache[] = [];
  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    for (const c of caches) await c.close();
    await redis.stop();
  });
  afterEach(async () => {
    for (const c of caches.splice(0)) await c.close();
  });

  const make = (url: string) =>
    RedisCache.create({
      url,
      keyPrefix: 'kw:',
      encryptionKey: randomBytes(32),
      commandTimeoutMs: 200,
      clock: systemClock,
      logger: silentLogger(),
    }).then((c) => (caches.push(c), c));

  it('serves from the local copy without hanging, then resumes shared use', async () => {
    const cache = await make(redis.url);
    const value = canary();
    await cache.set('kw:a', entry(value));
    expect((await cache.get('kw:a'))?.secret.value).toBe(value);

    await redis.stop();
    const started = Date.now();
    expect((await cache.get('kw:a'))?.secret.value).toBe(value);
    await cache.set('kw:b', entry('other-value'));
    expect((await cache.get('kw:b'))?.secret.value).toBe('other-value');
    await cache.invalidate('kw:b');
    expect(await cache.get('kw:b')).toBeUndefined();
    expect((await cache.probe()).ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(cache.stats().fallbacks).toBeGreaterThan(0);

    await redis.resume();
    await until(() => cache.connected, 5_000);
    expect((await cache.probe()).ok).toBe(true);
    // Redis restarted empty: it is the source of truth again.
    expect(await cache.get('kw:a')).toBeUndefined();
    await cache.set('kw:c', entry(value));
    expect((await cache.get('kw:c'))?.secret.value).toBe(value);
  });

  it('starts while Redis is unreachable without blocking for long', async () => {
    const started = Date.now();
    const cache = await make('redis://127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(3_000);
    await cache.set('kw:a', entry('v1-value'));
    expect((await cache.get('kw:a'))?.secret.value).toBe('v1-value');
  });
});
