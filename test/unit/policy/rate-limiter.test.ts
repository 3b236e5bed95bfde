/** Token buckets: N calls pass, N+1 gets an exact retryAfterSeconds, then succeeds after that wait. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { MemoryRateLimiter, rateKey, secondsUntilToken } from '../../../src/policy/rate-limiter.js';

describe('MemoryRateLimiter', () => {
  it('N+1 in a window is limited with the exact wait; after it the call passes', async () => {
    const clock = new ManualClock();
    const limiter = new MemoryRateLimiter(clock);
    const limit = { requests: 3, perSeconds: 30 }; // one token every 10 s
    for (let i = 0; i < 3; i++) expect(await limiter.take('k', limit)).toEqual({ ok: true });
    clock.advance(2_500);
    const limited = await limiter.take('k', limit);
    expect(limited).toEqual({ ok: false, retryAfterSeconds: 8 }); // 7.5 s left → 8
    clock.advance(7_499);
    expect((await limiter.take('k', limit)).ok).toBe(false); // 1 ms short
    clock.advance(1);
    expect(await limiter.take('k', limit)).toEqual({ ok: true });
    expect(await limiter.take('k', limit)).toEqual({ ok: false, retryAfterSeconds: 10 });
  });

  it('the advertised wait is enough and one second less is not', async () => {
    for (const [requests, perSeconds, used] of [
      [1, 1, 1],
      [5, 60, 5],
      [2, 7, 2],
      [10, 1, 10],
    ] as const) {
      const clock = new ManualClock();
      const limiter = new MemoryRateLimiter(clock);
      const limit = { requests, perSeconds };
      for (let i = 0; i < used; i++) await limiter.take('k', limit);
      const denied = await limiter.take('k', limit);
      if (denied.ok) throw new Error('expected a limit');
      const wait = denied.retryAfterSeconds;
      clock.advance((wait - 1) * 1000);
      if (wait > 1 && perSeconds / requests > wait - 1)
        expect((await limiter.take('k', limit)).ok).toBe(false);
      clock.set(clock.now() + 1000);
      expect((await limiter.take('k', limit)).ok).toBe(true);
    }
  });

  it('keeps buckets apart per key and reports remaining tokens', async () => {
    const clock = new ManualClock();
    const limiter = new MemoryRateLimiter(clock);
    const limit = { requests: 2, perSeconds: 60 };
    const a = rateKey({
      ruleId: 'r',
      tenant: 't',
      agent: 'a',
      permission: 'p',
      tool: 'x',
      per: 'permission',
    });
    const b = rateKey({
      ruleId: 'r',
      tenant: 't',
      agent: 'b',
      permission: 'p',
      tool: 'x',
      per: 'permission',
    });
    const perTool = rateKey({
      ruleId: 'r',
      tenant: 't',
      agent: 'a',
      permission: 'p',
      tool: 'x',
      per: 'tool',
    });
    expect(new Set([a, b, perTool]).size).toBe(3);
    expect(await limiter.remaining(a, limit)).toBe(2);
    await limiter.take(a, limit);
    await limiter.take(a, limit);
    expect(await limiter.remaining(a, limit)).toBe(0);
    expect((await limiter.take(a, limit)).ok).toBe(false);
    expect((await limiter.take(b, limit)).ok).toBe(true);
  });

  it('secondsUntilToken rounds up and is at least one second', () => {
    expect(secondsUntilToken(0, { requests: 1, perSeconds: 1 })).toBe(1);
    expect(secondsUntilToken(0.5, { requests: 1, perSeconds: 10 })).toBe(5);
    expect(secondsUntilToken(0.99, { requests: 100, perSeconds: 1 })).toBe(1);
    expect(secondsUntilToken(0, { requests: 1, perSeconds: 3600 })).toBe(3600);
  });
});
