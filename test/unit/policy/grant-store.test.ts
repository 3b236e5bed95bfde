/** GrantStore contract, run against every implementation; plus SQLite sharing between two connections. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  constraintsHold,
  type GrantStore,
  type NewApproval,
  type NewGrant,
} from '../../../src/policy/grant-store.js';
import { MemoryGrantStore } from '../../../src/policy/memory-grant-store.js';
import { SqliteGrantStore } from '../../../src/policy/sqlite/sqlite-grant-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-grants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const T0 = Date.parse('2026-01-01T00:00:00Z');

function newGrant(over: Partial<NewGrant> = {}): NewGrant {
  return {
    agent: 'bot',
    tenant: 'acme',
    permission: 'gh:write',
    createdAt: T0,
    expiresAt: T0 + 60_000,
    createdBy: 'elicitation',
    ruleId: 'w',
    ...over,
  };
}

function newApproval(over: Partial<NewApproval> = {}): NewApproval {
  return {
    agent: 'bot',
    tenant: 'acme',
    tool: 'gh_write',
    permission: 'gh:write',
    argsSummary: '{"owner":"acme"}',
    ttlSeconds: 300,
    maxTtlSeconds: 600,
    ruleIds: ['w'],
    requestedAt: T0,
    expiresAt: T0 + 3_600_000,
    ...over,
  };
}

const implementations: [string, () => GrantStore][] = [
  ['memory', () => new MemoryGrantStore()],
  ['sqlite', () => new SqliteGrantStore({ path: path.join(dir, `g${n++}.db`) })],
];

describe.each(implementations)('GrantStore contract: %s', (_name, make) => {
  it('creates, finds, consumes calls atomically and expires', async () => {
    const store = make();
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
    const h = await store.createGrant(newGrant());
    expect(await store.useGrant(h.id, T0 + 60_000)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.useGrant('g_nope', T0)).toEqual({ ok: false, reason: 'missing' });
    expect((await store.listGrants({}, T0)).map((x) => x.id)).toEqual([h.id]);
    expect(await store.listGrants({}, T0 + 60_000)).toEqual([]);
    expect(await store.listGrants({ includeInactive: true }, T0 + 60_000)).toHaveLength(2);
    await store.close();
  });

  it('revokes at once and idempotently', async () => {
    const store = make();
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
    const store = make();
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
    const store = make();
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
});

describe('SqliteGrantStore between processes (two connections to one file)', () => {
  it('an approval and a revocation made by the other side are seen on the next read, and watch fires', async () => {
    const file = path.join(dir, 'shared.db');
    const server = new SqliteGrantStore({ path: file, pollMs: 20 });
    const cli = new SqliteGrantStore({ path: file });
    let changes = 0;
    const stop = server.watch(() => changes++);
    const a = await server.createApproval(newApproval());
    const answered = await cli.answerApproval(a.id, { approved: true, by: 'operator:ann', now: T0 + 1 });
    const grantId = answered?.grant?.id ?? '';
    expect((await server.grantsFor('bot', 'acme', 'gh:write'))[0]?.id).toBe(grantId);
    expect((await server.useGrant(grantId, T0 + 2)).ok).toBe(true);
    await cli.revokeGrant(grantId, 'operator:ann', T0 + 3);
    expect(await server.useGrant(grantId, T0 + 4)).toEqual({ ok: false, reason: 'revoked' });
    await new Promise((r) => setTimeout(r, 100));
    expect(changes).toBeGreaterThan(0);
    stop();
    await cli.close();
    await server.close();
  });
});

describe('constraintsHold', () => {
  it('is exact and type-sensitive; extra arguments are fine, missing ones are not', () => {
    expect(constraintsHold(undefined, {})).toBe(true);
    expect(constraintsHold({ owner: 'acme' }, { owner: 'acme', repo: 'x' })).toBe(true);
    expect(constraintsHold({ owner: 'acme' }, { owner: 'evil' })).toBe(false);
    expect(constraintsHold({ owner: 'acme' }, {})).toBe(false);
    expect(constraintsHold({ n: 1 }, { n: '1' })).toBe(false);
    expect(constraintsHold({ toString: 'x' }, {})).toBe(false);
  });
});
