/** SQLite sink specifics: file modes, several processes on one file, locks, a vanished or read-only db. */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { createSqliteSink, type SqliteAuditSink } from '../../../src/audit/sqlite/sqlite-sink.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { AuditEvent } from '../../../src/core/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const root = mkdtempSync(path.join(tmpdir(), 'keyward-audit-sqlite-'));
const logger = silentLogger();
const sinks: SqliteAuditSink[] = [];
let n = 0;

function sinkAt(file: string, extra: { writeTimeoutMs?: number } = {}): SqliteAuditSink {
  const sink = createSqliteSink({ path: file, logger, ...extra });
  sinks.push(sink);
  return sink;
}
const freshPath = () => path.join(root, `case${++n}`, 'nested', 'audit.db');
const ev = (i: number, agent = 'alice'): AuditEvent => ({
  type: 'call.started',
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  agent,
  requestId: `r${i}`,
});

afterAll(async () => {
  for (const s of sinks) await s.close().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('SqliteAuditSink', () => {
  it('creates the directory (0700) and the database files (0600)', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    await sink.append(ev(1));
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('lets another process write the same file on its own writer chain', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    await sink.append(ev(0, 'parent'));
    const script = path.join(root, `child-${n}.mts`);
    writeFileSync(
      script,
      `import { createSqliteSink } from ${JSON.stringify(path.join(repoRoot, 'src/audit/sqlite/sqlite-sink.ts'))};
       import { silentLogger } from ${JSON.stringify(path.join(repoRoot, 'src/observability/logger.ts'))};
       const sink = createSqliteSink({ path: ${JSON.stringify(file)}, logger: silentLogger() });
       for (let round = 0; round < 20; round++) {
         await Promise.all(Array.from({ length: 10 }, (_, i) =>
           sink.append({ type: 'grant.created', time: new Date().toISOString(), agent: 'child', requestId: 'c' + round + '-' + i })));
       }
       await sink.close();`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => sink.append(ev(round * 10 + i, 'parent'))));
    }
    expect(await exited, stderr).toBe(0);
    const report = await sink.verify();
    expect(report).toEqual({ ok: true, records: 401, writers: 2, problems: [] });
    expect(await sink.query({ agent: 'child', limit: 1000 })).toHaveLength(200);
  });

  it('waits for a lock held by another connection up to the timeout, then fails closed', async () => {
    const file = freshPath();
    const sink = sinkAt(file, { writeTimeoutMs: 150 });
    await sink.append(ev(1));
    const other = new Database(file, { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    await expect(sink.append(ev(2))).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect((await sink.probe()).ok).toBe(false);
    other.exec('COMMIT');
    other.close();
    await sink.append(ev(3));
    const records = await sink.tail(10);
    expect(records.map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'r1'],
      [2, 'r3'],
    ]);
    expect((await sink.verify()).ok).toBe(true);
  });

  it('fails closed when the database file disappears, and does not advance the chain past the failure', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    await Promise.all([ev(1), ev(2), ev(3)].map((e) => sink.append(e)));
    rmSync(path.dirname(file), { recursive: true, force: true });
    await expect(sink.append(ev(4))).rejects.toMatchObject({ code: 'audit_unavailable' });
    // The next batch opens a new file; the lost records show up as deleted.
    await sink.append(ev(5));
    const records = await sink.tail(10);
    expect(records.map((r) => [r.seq, r.requestId])).toEqual([[4, 'r5']]);
    const report = await sink.verify();
    expect(report.problems).toEqual([`writer ${sink.writer} seq 1-3: missing (3 records deleted)`]);
  });

  it.skipIf(process.getuid?.() === 0)('fails closed on a read-only database file', async () => {
    const file = freshPath();
    const writer = sinkAt(file);
    await writer.append(ev(1));
    await writer.close();
    chmodSync(file, 0o444);
    const sink = sinkAt(file);
    await expect(sink.append(ev(2))).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect((await sink.probe()).ok).toBe(false);
  });

  it('reports a path that cannot be created on probe and recovers once it can', async () => {
    const dir = path.join(root, `blocked${++n}`);
    writeFileSync(dir, 'not a directory');
    const file = path.join(dir, 'audit.db');
    const sink = sinkAt(file);
    const probe = await sink.probe();
    expect(probe).toMatchObject({ ok: false });
    expect(probe.message).toContain(file);
    await expect(sink.append(ev(1))).rejects.toMatchObject({ code: 'audit_unavailable' });
    rmSync(dir);
    await sink.append(ev(2));
    expect(await sink.verify()).toMatchObject({ ok: true, records: 1 });
  });
});
