// Tests of MemoryCache: LRU bound, clock expiry at staleUntil, prefix invalidation.
import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../../../src/cache/memory/memory-cache.js';
import { createCredentialCache } from '../../../src/cache/registry.js';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/observability/logger.js';

const secret = { value: 'v', version: '1', keyId: 'k' };

describe('MemoryCache', () => {
  it('evicts the least recently used entry beyond maxEntries', async () => {
    const clock = new ManualClock();
    const cache = new MemoryCache(2, clock);
    const entry = { secret, freshUntil: clock.now() + 1000, staleUntil: clock.now() + 2000 };
    await cache.set('a', entry);
    await cache.set('b', entry);
    await cache.get('a'); // a is now the most recent
    await cache.set('c', entry);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBeDefined();
    expect(await cache.get('c')).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it('keeps an entry until staleUntil on the injected clock, then drops it', async () => {
    const clock = new ManualClock();
    const cache = new MemoryCache(10, clock);
    await cache.set('a', { secret, freshUntil: clock.now() + 1000, staleUntil: clock.now() + 5000 });
    clock.advance(4999);
    expect(await cache.get('a')).toBeDefined();
    clock.advance(1);
    expect(await cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('invalidates one key or every key with a prefix', async () => {
    const clock = new ManualClock();
    const cache = new MemoryCache(10, clock);
    const entry = { secret, freshUntil: clock.now() + 1000, staleUntil: clock.now() + 1000 };
    for (const k of ['kw:a:1', 'kw:a:2', 'kw:b:1']) await cache.set(k, entry);
    await cache.invalidatePrefix('kw:a:');
    expect(await cache.get('kw:a:1')).toBeUndefined();
    expect(await cache.get('kw:a:2')).toBeUndefined();
    expect(await cache.get('kw:b:1')).toBeDefined();
    await cache.invalidate('kw:b:1');
    expect(await cache.get('kw:b:1')).toBeUndefined();
  });

  it('is built by the registry for type memory', async () => {
    const deps = { clock: new ManualClock(), logger: silentLogger(), baseDir: '/' };
    const cache = await createCredentialCache({ type: 'memory', maxEntries: 5 }, deps);
    expect(cache.kind).toBe('memory');
  });
});
