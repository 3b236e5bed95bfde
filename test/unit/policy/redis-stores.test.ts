/**
 * Redis grant store (the GrantStore contract cases, plus sharing between two instances) and the
 * Redis rate limiter (atomic shared buckets), on the shared Redis with a random key prefix; and
 * fail-closed behaviour on a private redis-server that is stopped.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKeywardError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { NewApproval, NewGrant } from '../../../src/policy/grant-store.js';
import { RedisGrantStore } from '../../../src/policy/redis/redis-grant-store.js';
import { RedisRateLimiter } from '../../../src/policy/redis/redis-rate-limiter.js';
import { StateSeal } from '../../../src/policy/redis/state-seal.js';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { newApproval as baseApproval, newGrant as baseGrant, T0 } from '../../helpers/grant-fixtures.js';

const SHARED = 'redis://127.0.0.1:6379';
const prefix = `kwtest:${randomBytes(6).toString('hex')}:`;
const opened: { close(): Promise<void> }[] = [];

const SEAL = new StateSeal(randomBytes(32));
const forgeries: { kind: string; id: string }[] = [];
const grantStore = async (url = SHARED, keyPrefix = prefix): Promise<RedisGrantStore> => {
  const store = await RedisGrantStore.create({
    url,
    keyPrefix,
    commandTimeoutMs: 300,
    logger: silentLogger(),
    seal: SEAL,
    onForged: (what) => forgeries.push(what),
  });
  opened.push(store);
  return store;
};
const limiter = async (url = SHARED, keyPrefix = prefix, seal?: StateSeal): Promise<RedisRateLimiter> => {
  const l = await RedisRateLimiter.create({
    url,
    keyPrefix,
    commandTimeoutMs: 300,
    logger: silentLogger(),
    ...(seal === undefined
      ? {}
      : { seal, onForged: (what: { kind: string; id: string }) => forgeries.push(what) }),
  });
  opened.push(l);
  return l;
};

// Each grant belongs to an agent of its own: tests share one key prefix.
const newGrant = (over: Partial<NewGrant> = {}): NewGrant =>
  baseGrant({ agent: `bot-${randomBytes(3).toString('hex')}`, ...over });
const newApproval = (over: Partial<NewApproval> = {}): NewApproval => baseApproval({ ruleIds: [], ...over });

let admin: Redis;
beforeAll(() => {
  admin = new Redis(SHARED);
});
afterAll(async () => {
  for (const o of opened) await o.close();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

// The GrantStore contract runs on Redis in test/contract/grant-store.contract.test.ts; here: replicas.
describe('RedisGrantStore across replicas', () => {
  it('revokes at once and idempotently, seen by another replica on its next read', async () => {
    const [a, b] = [await grantStore(), await grantStore()];
    let changes = 0;
    b.watch(() => changes++);
    const g = await a.createGrant(newGrant());
    expect((await b.useGrant(g.id, T0 + 1)).ok).toBe(true);
    expect(await a.revokeGrant(g.id, 'operator:ann', T0 + 5)).toMatchObject({
      revokedAt: T0 + 5,
      revokedBy: 'operator:ann',
    });
    expect(await a.revokeGrant(g.id, 'operator:bob', T0 + 9)).toMatchObject({ revokedBy: 'operator:ann' });
    expect(await b.useGrant(g.id, T0 + 6)).toEqual({ ok: false, reason: 'revoked' });
    expect(await a.revokeGrant('g_nope', 'x', T0)).toBeUndefined();
    const deadline = Date.now() + 2_000;
    while (changes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(changes).toBeGreaterThan(0);
  });

  it('approvals: pending → approved creates a capped grant; only one answer wins', async () => {
    const [store, other] = [await grantStore(SHARED, `${prefix}b:`), await grantStore(SHARED, `${prefix}b:`)];
    const a = await store.createApproval(
      newApproval({ justification: 'fix #1', constraints: { owner: 'acme' } }),
    );
    expect(a).toMatchObject({ status: 'pending', ruleIds: [] });
    expect((await other.findPendingApproval('bot', 'acme', 'gh:write', T0))?.id).toBe(a.id);
    expect(await store.findPendingApproval('bot', 'acme', 'gh:read', T0)).toBeUndefined();
    const answers = await Promise.all([
      store.answerApproval(a.id, { approved: true, by: 'operator:ann', now: T0 + 10, ttlSeconds: 99_999 }),
      other.answerApproval(a.id, { approved: false, by: 'operator:bob', now: T0 + 10 }),
    ]);
    expect(new Set(answers.map((x) => x?.approval.status)).size).toBe(1);
    // Exactly one of the two answers created the outcome; the other saw it.
    expect(answers.filter((x) => x?.grant !== undefined).length).toBeLessThanOrEqual(1);
    const final = await other.getApproval(a.id);
    expect(['approved', 'denied']).toContain(final?.status);
    if (final?.status === 'approved') {
      const grant = await store.getGrant(final.grantId ?? '');
      expect(grant).toMatchObject({
        expiresAt: T0 + 10 + 600_000,
        approvalId: a.id,
        constraints: { owner: 'acme' },
      });
    }
    expect(await store.findPendingApproval('bot', 'acme', 'gh:write', T0 + 30)).toBeUndefined();
    expect(await store.answerApproval('a_nope', { approved: true, by: 'x', now: T0 })).toBeUndefined();
  });
});

describe('state in Redis cannot be forged (issue 14)', () => {
  it('a grant written straight into Redis is ignored, logged and alerted: no call goes through on it', async () => {
    const p = `${prefix}forge:`;
    const store = await grantStore(SHARED, p);
    const forged = {
      id: 'g_forged',
      agent: 'bot',
      tenant: 'acme',
      permission: 'admin:wipe',
      createdAt: T0,
      expiresAt: T0 + 3_600_000,
      used: 0,
      createdBy: 'operator:root',
    };
    // What someone with Redis write access does: the records and index entries the store reads.
    await admin
      .multi()
      .set(`${p}g:grant:g_forged`, JSON.stringify(forged))
      .hset(`${p}g:grant:g_forged:m`, 'used', '0', 'expiresAt', String(forged.expiresAt))
      .zadd(`${p}g:grants:bot|acme|admin%3Awipe`, T0, 'g_forged')
      .zadd(`${p}g:grants`, T0, 'g_forged')
      .exec();
    forgeries.length = 0;
    expect(await store.grantsFor('bot', 'acme', 'admin:wipe')).toEqual([]);
    expect(await store.listGrants({}, T0)).toEqual([]);
    expect(forgeries).toContainEqual({ kind: 'grant', id: 'g_forged' });
  });

  it('a real grant altered in Redis (longer expiry, bigger budget, another permission) is ignored', async () => {
    const p = `${prefix}alter:`;
    const store = await grantStore(SHARED, p);
    const g = await store.createGrant(newGrant({ maxCalls: 1, expiresAt: T0 + 60_000 }));
    forgeries.length = 0;
    // Longer expiry in the mutable state.
    await admin.hset(`${p}g:grant:${g.id}:m`, 'expiresAt', String(T0 + 999_999_999));
    expect(await store.getGrant(g.id)).toBeUndefined();
    await admin.hset(`${p}g:grant:${g.id}:m`, 'expiresAt', String(g.expiresAt), 'maxCalls', '1000');
    expect(await store.getGrant(g.id)).toBeUndefined();
    await admin.hset(`${p}g:grant:${g.id}:m`, 'maxCalls', '1');
    expect((await store.getGrant(g.id))?.id).toBe(g.id);
    // The sealed record edited in place.
    const stored = (await admin.get(`${p}g:grant:${g.id}`))!;
    await admin.set(`${p}g:grant:${g.id}`, stored.replace('"gh:write"', '"admin:wipe"'));
    expect(await store.getGrant(g.id)).toBeUndefined();
    expect(forgeries.map((f) => f.kind)).toEqual(['grant-state', 'grant-state', 'grant']);
  });

  it('an approval answered or created by hand in Redis is ignored', async () => {
    const p = `${prefix}ans:`;
    const store = await grantStore(SHARED, p);
    const a = await store.createApproval(newApproval());
    await admin.set(
      `${p}g:approval:${a.id}:answer`,
      JSON.stringify({ status: 'approved', answeredAt: T0, answeredBy: 'operator:root' }),
    );
    expect(await store.getApproval(a.id)).toBeUndefined();
    expect(await store.listApprovals('approved', T0)).toEqual([]);
  });

  it('records sealed with another key (another deployment) do not open', async () => {
    const p = `${prefix}other:`;
    const mine = await grantStore(SHARED, p);
    const theirs = await RedisGrantStore.create({
      url: SHARED,
      keyPrefix: p,
      commandTimeoutMs: 300,
      logger: silentLogger(),
      seal: new StateSeal(randomBytes(32)),
    });
    opened.push(theirs);
    const g = await theirs.createGrant(newGrant());
    expect(await mine.getGrant(g.id)).toBeUndefined();
    expect((await theirs.getGrant(g.id))?.id).toBe(g.id);
  });
});

describe('RedisRateLimiter', () => {
  it('shares one atomic bucket between replicas', async () => {
    const [a, b] = [await limiter(), await limiter()];
    const limit = { requests: 10, perSeconds: 3600 };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take('k1', limit)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    const refused = results.find((r) => !r.ok);
    expect(refused).toMatchObject({ ok: false });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(300);
    expect(await b.remaining('k1', limit)).toBe(0);
    expect(await a.remaining('fresh', limit)).toBe(10);
  });

  it('sealed buckets (issue 14): shared exactly between replicas, and a bucket refilled by hand counts as empty', async () => {
    const p = `${prefix}sealed:`;
    const [a, b] = [await limiter(SHARED, p, SEAL), await limiter(SHARED, p, SEAL)];
    const limit = { requests: 10, perSeconds: 3600 };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take('k1', limit)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(await b.remaining('k1', limit)).toBe(0);
    // Someone with Redis access refills the bucket.
    forgeries.length = 0;
    await admin.hset(`${p}rl:k1`, 'tokens', '10');
    const after = await a.take('k1', limit);
    expect(after.ok).toBe(false);
    expect(forgeries).toContainEqual({ kind: 'bucket', id: 'k1' });
    // The seal is restored as empty: later calls wait for the refill like everyone else.
    expect(await b.remaining('k1', limit)).toBe(0);
    expect(forgeries).toHaveLength(1);
  });
});

describe('fail closed when Redis is down', () => {
  it('refuses grants and rate limits with structured errors, then recovers', async () => {
    const redis = await PrivateRedis.start();
    try {
      const store = await grantStore(redis.url, 'kw:');
      const rl = await limiter(redis.url, 'kw:');
      const g = await store.createGrant(newGrant());
      const limit = { requests: 5, perSeconds: 60 };
      expect((await rl.take('k', limit)).ok).toBe(true);
      await redis.stop();
      const grantError = await store.useGrant(g.id, T0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isKeywardError(grantError) && grantError.retryable).toBe(true);
      const limitError = await rl.take('k', limit).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isKeywardError(limitError) && limitError.code).toBe('rate_limited');
      expect(
        await store
          .grantsFor('bot', 'acme', 'gh:write')
          .catch((e: unknown) => (isKeywardError(e) ? 'refused' : 'other')),
      ).toBe('refused');
      await redis.resume();
      const deadline = Date.now() + 5_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok = await rl.take('k', limit).then(
          (r) => r.ok,
          () => false,
        );
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
    } finally {
      await redis.stop();
    }
  });
});
