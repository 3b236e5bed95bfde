/** `keyward audit verify|tail|query` as a process: output, --json, exit codes, one-line errors. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { registerAuditCommand } from '../../../src/cli/commands/audit.js';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSqliteSink } from '../../../src/audit/sqlite/sqlite-sink.js';
import { createPostgresSink } from '../../../src/audit/postgres/postgres-sink.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { AuditEvent } from '../../../src/core/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'keyward-audit-cli-'));
const dbPath = path.join(dir, 'audit.db');
const configPath = path.join(dir, 'tools.config.json');
const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `kw_audit_cli_${randomBytes(4).toString('hex')}`;
// Registers only this command, so the test does not depend on the rest of the CLI.
const entry = path.join(repoRoot, 'tmp', `audit-cli-entry-${randomBytes(4).toString('hex')}.mts`);

class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Runs the command in this process, capturing stdout, stderr and the exit code. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const program = new Command('keyward').exitOverride();
  registerAuditCommand(program);
  let stdout = '';
  let stderr = '';
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    }),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    }),
    vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new ExitSignal(Number(code ?? 0));
    }),
  ];
  process.exitCode = undefined;
  let code: number;
  try {
    await program.parseAsync(['node', 'keyward', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    if (!(error instanceof ExitSignal)) throw error;
    code = error.code;
  } finally {
    for (const spy of spies) spy.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stdout, stderr };
}

/** Runs the command as a real process (exit code and stderr as a user sees them). */
function spawnCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const events: AuditEvent[] = [
  {
    type: 'call.started',
    time: '2026-03-01T10:00:00.000Z',
    agent: 'alice',
    tenant: 'acme',
    tool: 'gh',
    decision: 'allow',
    requestId: 'r1',
  },
  {
    type: 'call.completed',
    time: '2026-03-01T10:00:01.000Z',
    agent: 'alice',
    tenant: 'acme',
    tool: 'gh',
    outcome: 'ok',
    status: 200,
    latencyMs: 42,
    keyId: 'file:github',
    keyVersion: '2',
    requestId: 'r1',
  },
  {
    type: 'call.started',
    time: '2026-03-01T11:00:00.000Z',
    agent: 'bob',
    tenant: 'umbrella',
    tool: 'gh',
    decision: 'deny',
    requestId: 'r2',
  },
];

beforeAll(async () => {
  mkdirSync(path.dirname(entry), { recursive: true });
  writeFileSync(
    entry,
    `import { Command } from 'commander';
     import { registerAuditCommand } from ${JSON.stringify(path.join(repoRoot, 'src/cli/commands/audit.ts'))};
     import { reportAndExit } from ${JSON.stringify(path.join(repoRoot, 'src/cli/errors.ts'))};
     const program = new Command('keyward');
     registerAuditCommand(program);
     program.parseAsync(process.argv).catch(reportAndExit);`,
  );
  writeFileSync(configPath, JSON.stringify({ audit: { type: 'sqlite', path: './audit.db' } }));
  const sink = createSqliteSink({ path: dbPath, logger: silentLogger() });
  for (const e of events) await sink.append(e);
  await sink.close();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(entry, { force: true });
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  await admin.end();
});

describe('keyward audit', () => {
  it('verify prints a summary and exits 0 on an intact trail', async () => {
    const r = await run(['audit', 'verify', '--config', configPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`ok: 3 records in 1 writer chain verified (sqlite ${dbPath})\n`);
  });

  it('tail prints the last records oldest first, as text or JSON lines', async () => {
    const text = await run(['audit', 'tail', '-n', '2', '--config', configPath]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^2026-03-01T10:00:01.000Z {2}call.completed {2}alice@acme {2}gh {2}ok {2}200 {2}42ms {2}key=file:github@2 {2}req=r1 {2}#.+\/2$/,
    );
    expect(lines[1]).toContain('bob@umbrella  gh  deny');
    const json = await run(['audit', 'tail', '--json', '--config', configPath]);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[1]).toMatchObject({ ...events[1], seq: 2 });
    expect(records[1]?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('query applies every filter', async () => {
    const q = async (...args: string[]) => {
      const r = await run(['audit', 'query', '--json', '--config', configPath, ...args]);
      expect(r.stderr).toBe('');
      return r.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(
          (l) =>
            (JSON.parse(l) as { requestId: string; type: string }).type +
            ':' +
            (JSON.parse(l) as { requestId: string }).requestId,
        );
    };
    expect(await q('--agent', 'alice')).toEqual(['call.started:r1', 'call.completed:r1']);
    expect(await q('--decision', 'deny')).toEqual(['call.started:r2']);
    expect(await q('--tenant', 'acme', '--type', 'call.completed')).toEqual(['call.completed:r1']);
    expect(await q('--since', '2026-03-01T10:00:01Z', '--until', '2026-03-01T11:00:00Z')).toEqual([
      'call.completed:r1',
    ]);
    expect(await q('--tool', 'gh', '--limit', '1')).toEqual(['call.started:r2']);
  });

  it('verify exits 1 and lists each problem when the trail was tampered with', async () => {
    const copyDir = mkdtempSync(path.join(dir, 'tampered-'));
    const copy = path.join(copyDir, 'audit.db');
    const src = new Database(dbPath);
    await src.backup(copy);
    src.close();
    const db = new Database(copy);
    db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
    db.exec(`UPDATE audit_events SET record = replace(record, 'alice', 'eve') WHERE seq = 1`);
    db.exec('DELETE FROM audit_events WHERE seq = 2');
    db.close();
    const cfg = path.join(copyDir, 'tools.config.json');
    writeFileSync(cfg, JSON.stringify({ audit: { type: 'sqlite', path: copy } }));
    const r = await run(['audit', 'verify', '--config', cfg]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`FAILED: 2 problems in 2 records, 1 writer chains (sqlite ${copy})`);
    expect(lines[1]).toMatch(/^ {2}writer \S+ seq 1: hash mismatch \(record edited\)$/);
    expect(lines[2]).toMatch(/^ {2}writer \S+ seq 2: missing \(record deleted\)$/);
  });

  it('reports errors as one line on stderr with exit 1 and no stack', async () => {
    const missing = await spawnCli(['audit', 'tail', '--config', path.join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: config file not found: .*nope\.json/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);

    const noDb = path.join(dir, 'nodb.json');
    writeFileSync(noDb, JSON.stringify({ audit: { type: 'sqlite', path: './none/audit.db' } }));
    const r = await run(['audit', 'verify', '--config', noDb]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: no audit database at ${path.join(dir, 'none/audit.db')} (nothing has been recorded yet)\n`,
    );

    const bad = await run(['audit', 'query', '--since', 'last tuesday', '--config', configPath]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: invalid since time "last tuesday": use an ISO 8601 time\n');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('works against PostgreSQL and fails in one line when it is unreachable', async () => {
    const sink = await createPostgresSink({
      url: PG_URL,
      schema: pgSchema,
      statementTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      logger: silentLogger(),
    });
    for (const e of events) await sink.append(e);
    await sink.close();
    const cfg = path.join(dir, 'pg.json');
    writeFileSync(cfg, JSON.stringify({ audit: { type: 'postgres', url: PG_URL, schema: pgSchema } }));
    const ok = await run(['audit', 'verify', '--config', cfg]);
    expect(ok.stdout).toBe(`ok: 3 records in 1 writer chain verified (postgres schema ${pgSchema})\n`);
    expect(ok.code).toBe(0);
    const q = await run(['audit', 'query', '--agent', 'bob', '--config', cfg]);
    expect(q.stdout).toContain('bob@umbrella  gh  deny');

    const down = path.join(dir, 'pg-down.json');
    writeFileSync(
      down,
      JSON.stringify({
        audit: {
          type: 'postgres',
          url: 'postgres://postgres:hunter2@127.0.0.1:1/test',
          schema: pgSchema,
          connectTimeoutMs: 500,
        },
      }),
    );
    const r = await run(['audit', 'verify', '--config', down]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*ECONNREFUSED.*\n$/);
    expect(r.stderr).not.toContain('hunter2');
  });
});
