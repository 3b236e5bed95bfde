/**
 * The GrantStore contract, run against every implementation (memory, SQLite, Redis on the
 * machine's Redis under a random key prefix): grants consumed atomically, revocation, approvals
 * answered once, lapse, and the exact arguments of a pinned request kept as written.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { callFingerprint, PINNED_ARGS, type GrantStore } from '../../src/policy/grant-store.js';
import { MemoryGrantStore } from '../../src/policy/memory-grant-store.js';
import { RedisGrantStore } from '../../src/policy/redis/redis-grant-store.js';
import { StateSeal } from '../../src/policy/redis/state-seal.js';
import { SqliteGrantStore } from '../../src/policy/sqlite/sqlite-grant-store.js';
import { T0, newGrant, newApproval } from '../helpers/grant-fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-grants-'));
const prefix = `kwtest:grants-contract:${randomBytes(6).toString('hex')}:`;
const SEAL = new StateSeal(randomBytes(32));
let n = 0;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = new Redis('redis://127.0.0.1:6379');
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

const implementations: [string, () => Promise<GrantStore>][] = [
  ['memory', () => Promise.resolve(new MemoryGrantStore())],
  ['sqlite', () => Promise.resolve(new SqliteGrantStore({ path: path.join(dir, `g${n++}.db`) }))],
  [
    'redis',
    () =>
      RedisGrantStore.create({
        url: 'redis://127.0.0.1:6379',
        keyPrefix: `${prefix}${n++}:`,
        commandTimeoutMs: 1_000,
        logger: silentLogger(),
        seal: SEAL,
      }),
  ],
];

describe.each(implementations)('GrantStore contract: %s', (_name, make) => {
  it('creates, finds, consumes calls atomically and expires', async () => {
    const store = await make();
    const g = await store.createGrant(newGrant({ maxCalls: 2, constraints: { owner: 'acme' } }));
    expect(g.id).toMatch(/^g_/);
    expect(await store.getGrant(g.id)).toMatchObject({
      used: 0,
      constraints: { owner: 'acme' },
      maxCalls: 2,
    });
    expect((await store.grantsFor('bot', 'acme', 'gh:write')).map((x) => x.id)).toEqual([g.id]);
    expect(await store.grantsFor('bot', 'other', 'gh:write')).toEqual([]);
    expect(await store.grantsFor('eve', 'acme', 'gh:write')).toEqual([]);
    const uses = await Promise.all([
      store.useGrant(g.id, T0),
      store.useGrant(g.id, T0),
      store.useGrant(g.id, T0),
    ]);
    expect(uses.filter((u) => u.ok)).toHaveLength(2);
    expect(uses.find((u) => !u.ok)).toEqual({ ok: false, reason: 'exhausted' });
    const h = await store.createGrant(newGrant({ createdAt: T0 + 1 }));
    expect(await store.useGrant(h.id, T0 + 60_000)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.useGrant('g_nope', T0)).toEqual({ ok: false, reason: 'missing' });
    expect((await store.listGrants({}, T0)).map((x) => x.id)).toEqual([h.id]);
    expect(await store.listGrants({}, T0 + 60_000)).toEqual([]);
    expect(await store.listGrants({ includeInactive: true }, T0 + 60_000)).toHaveLength(2);
    await store.close();
  });

  it('revokes at once and idempotently', async () => {
    const store = await make();
    const g = await store.createGrant(newGrant());
    const revoked = await store.revokeGrant(g.id, 'operator:ann', T0 + 5);
    expect(revoked).toMatchObject({ revokedAt: T0 + 5, revokedBy: 'operator:ann' });
    expect(await store.revokeGrant(g.id, 'operator:bob', T0 + 9)).toMatchObject({
      revokedBy: 'operator:ann',
    });
    expect(await store.useGrant(g.id, T0 + 6)).toEqual({ ok: false, reason: 'revoked' });
    expect(await store.revokeGrant('g_nope', 'x', T0)).toBeUndefined();
    await store.close();
  });

  it('approvals: pending → approved creates a capped grant; only one answer wins', async () => {
    const store = await make();
    const a = await store.createApproval(
      newApproval({ justification: 'fix issue #1', constraints: { owner: 'acme' } }),
    );
    expect(a).toMatchObject({ status: 'pending' });
    expect((await store.findPendingApproval('bot', 'acme', 'gh:write', T0))?.id).toBe(a.id);
    expect(await store.findPendingApproval('bot', 'acme', 'gh:read', T0)).toBeUndefined();
    const answered = await store.answerApproval(a.id, {
      approved: true,
      by: 'operator:ann',
      now: T0 + 10,
      ttlSeconds: 99_999,
    });
    expect(answered?.approval).toMatchObject({ status: 'approved', answeredBy: 'operator:ann' });
    expect(answered?.grant).toMatchObject({
      agent: 'bot',
      permission: 'gh:write',
      expiresAt: T0 + 10 + 600_000, // capped at maxTtlSeconds
      createdBy: 'operator:ann',
      approvalId: a.id,
      constraints: { owner: 'acme' },
    });
    const again = await store.answerApproval(a.id, { approved: false, by: 'operator:bob', now: T0 + 20 });
    expect(again?.approval.status).toBe('approved');
    expect(again?.grant).toBeUndefined();
    expect(await store.findPendingApproval('bot', 'acme', 'gh:write', T0 + 30)).toBeUndefined();
    expect(await store.answerApproval('a_nope', { approved: true, by: 'x', now: T0 })).toBeUndefined();
    await store.close();
  });

  it('approvals lapse at their expiry and can be denied', async () => {
    const store = await make();
    const a = await store.createApproval(newApproval({ expiresAt: T0 + 1000 }));
    expect((await store.listApprovals('pending', T0)).map((x) => x.id)).toEqual([a.id]);
    expect((await store.listApprovals('expired', T0 + 1000)).map((x) => x.id)).toEqual([a.id]);
    const lapsed = await store.answerApproval(a.id, { approved: true, by: 'x', now: T0 + 1000 });
    expect(lapsed?.approval.status).toBe('expired');
    expect(lapsed?.grant).toBeUndefined();
    const b = await store.createApproval(newApproval());
    const denied = await store.answerApproval(b.id, { approved: false, by: 'operator:ann', now: T0 + 1 });
    expect(denied?.approval.status).toBe('denied');
    expect(await store.listGrants({}, T0 + 2)).toEqual([]);
    await store.close();
  });

  it('a request pinned to a call keeps its exact arguments; the grant covers them unless widened', async () => {
    const store = await make();
    const args = { title: 'quarterly \u202e report', amount: 12, tags: ['a'] };
    const pinned = { [PINNED_ARGS]: callFingerprint('gh_write', args) };
    const a = await store.createApproval(
      newApproval({ argsJson: JSON.stringify(args), constraints: pinned }),
    );
    expect(JSON.parse((await store.getApproval(a.id))?.argsJson ?? 'null')).toEqual(args);
    const kept = await store.answerApproval(a.id, { approved: true, by: 'operator:ann', now: T0 + 1 });
    expect(kept?.grant?.constraints).toEqual(pinned);
    const b = await store.createApproval(
      newApproval({ argsJson: '{}', constraints: pinned, requestedAt: T0 + 2 }),
    );
    const widened = await store.answerApproval(b.id, {
      approved: true,
      by: 'operator:ann',
      now: T0 + 3,
      anyArgs: true,
    });
    expect(widened?.grant?.constraints).toBeUndefined();
    await store.close();
  });
});
