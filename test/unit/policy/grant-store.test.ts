/** SQLite sharing between two connections, and constraint matching (the contract: test/contract/grant-store.contract.test.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  callFingerprint,
  constraintsHold,
  GRANTED_USER,
  grantScope,
  PINNED_ARGS,
} from '../../../src/policy/grant-store.js';
import { SqliteGrantStore } from '../../../src/policy/sqlite/sqlite-grant-store.js';
import { T0, newApproval } from '../../helpers/grant-fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-grants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
  const on = (args: Record<string, unknown>, tool = 'gh_write', user?: string) => ({ tool, args, user });
  it('is exact and type-sensitive; extra arguments are fine, missing ones are not', () => {
    expect(constraintsHold(undefined, on({}))).toBe(true);
    expect(constraintsHold({ owner: 'acme' }, on({ owner: 'acme', repo: 'x' }))).toBe(true);
    expect(constraintsHold({ owner: 'acme' }, on({ owner: 'evil' }))).toBe(false);
    expect(constraintsHold({ owner: 'acme' }, on({}))).toBe(false);
    expect(constraintsHold({ n: 1 }, on({ n: '1' }))).toBe(false);
    expect(constraintsHold({ toString: 'x' }, on({}))).toBe(false);
  });

  it('a grant pinned to one call covers that tool with those arguments, in any key order, and nothing else', () => {
    const pinned = { [PINNED_ARGS]: callFingerprint('delete_repo', { name: 'x', force: true }) };
    expect(constraintsHold(pinned, on({ force: true, name: 'x' }, 'delete_repo'))).toBe(true);
    expect(constraintsHold(pinned, on({ name: 'x', force: false }, 'delete_repo'))).toBe(false);
    // Tools may share a permission: the same arguments on a sibling tool were never approved.
    expect(constraintsHold(pinned, on({ name: 'x', force: true }, 'delete_branch'))).toBe(false);
  });

  it("a grant for one user covers that user's calls only, never an argument of that name", () => {
    const forAlice = { [GRANTED_USER]: 'alice' };
    expect(constraintsHold(forAlice, on({}, 'gh_write', 'alice'))).toBe(true);
    expect(constraintsHold(forAlice, on({}, 'gh_write', 'bob'))).toBe(false);
    expect(constraintsHold(forAlice, on({ [GRANTED_USER]: 'alice' }))).toBe(false);
    expect(grantScope(forAlice)).toBe('any arguments, for user "alice" only');
  });
});
