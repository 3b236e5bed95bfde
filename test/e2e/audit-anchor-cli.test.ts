/**
 * `keyward audit verify` against a trail whose chain is keyed and anchored by checkpoints
 * (issue 14), as an operator runs it: a served session, then truncation of its last records, then
 * the key gone. Each finding is named and the exit code is non-zero.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { connectStdio, makeWorkspace, runCli } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kwanchor_' + 'Bn4Vc8Xz2Lk6Jh9Gf3Ds7Ap';
const env = { KW_TEST_CHAIN_KEY: randomBytes(32).toString('hex') };
let upstream: Upstream;
let configPath: string;
let dir: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath, dir } = await makeWorkspace(
    (d) => ({
      ...coreConfig(d, upstream.origin),
      audit: { type: 'sqlite', path: `${d}/audit.db`, chainKey: { env: 'KW_TEST_CHAIN_KEY' } },
    }),
    { api: KEY },
  ));
  const session = await connectStdio(configPath, { env });
  for (let i = 0; i < 3; i++)
    await session.client.callTool({ name: 'get_repo', arguments: { owner: 'a', repo: `r${i}` } });
  await session.close();
}, 60_000);
afterAll(() => upstream?.close());

describe('keyward audit verify with a keyed, checkpointed chain', () => {
  it('verifies the intact trail; the checkpoints live beside the database', async () => {
    expect(existsSync(path.join(dir, 'audit.db.checkpoints'))).toBe(true);
    const ok = await runCli(['audit', 'verify', '--config', configPath], { env });
    expect(ok.stdout, ok.stderr).toMatch(/^ok: \d+ records in 1 writer chain verified/);
    expect(ok.code).toBe(0);
  });

  it('names a truncated tail and exits non-zero', async () => {
    const db = new Database(path.join(dir, 'audit.db'));
    db.exec('DROP TRIGGER IF EXISTS audit_events_no_delete');
    const last = (db.prepare('SELECT max(seq) AS seq FROM audit_events').get() as { seq: number }).seq;
    db.prepare('DELETE FROM audit_events WHERE seq > ?').run(last - 2);
    db.close();
    const found = await runCli(['audit', 'verify', '--config', configPath], { env });
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(new RegExp(`seq ${last - 1}-${last}: missing tail \\(records deleted\\)`));
  });

  it('says the key is unavailable (and exits non-zero) when it cannot be read', async () => {
    const result = await runCli(['audit', 'verify', '--config', configPath], {
      env: { KW_TEST_CHAIN_KEY: '' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/audit\.chainKey: key unavailable/);
  });
});
