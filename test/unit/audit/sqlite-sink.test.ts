/** SQLite sink specifics: file modes, several processes on one file, locks, a vanished or read-only db. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { createSqliteSink, type SqliteAuditSink } from '../../../src/audit/sqlite/sqlite-sink.js';
import { WriteAheadJournal } from '../../../src/audit/sqlite/write-ahead-journal.js';
import { readFileSync } from 'node:fs';
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

  it('keeps journaled records through a lock held past the timeout, refuses new calls meanwhile, then commits them in order', async () => {
    const file = freshPath();
    const sink = sinkAt(file, { writeTimeoutMs: 150 });
    await sink.append(ev(1));
    await sink.flush();
    const other = new Database(file, { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    // Recorded in the journal before SQLite is tried: the caller goes on.
    await sink.append(ev(2));
    // The insert waits 150 ms for the lock, fails, and the store is marked failing.
    await expect(sink.flush()).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(sink.pending).toBe(1);
    // New calls are refused at once (no second 150 ms wait) while the store is failing.
    const t0 = performance.now();
    await expect(sink.append(ev(3))).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(performance.now() - t0).toBeLessThan(100);
    expect((await sink.probe()).ok).toBe(false);
    other.exec('COMMIT');
    other.close();
    // The background retry commits the journaled record without any new call.
    await vi.waitFor(() => expect(sink.pending).toBe(0), { timeout: 3000, interval: 50 });
    await sink.append(ev(4));
    const records = await sink.tail(10);
    expect(records.map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'r1'],
      [2, 'r2'],
      [3, 'r4'],
    ]);
    expect((await sink.verify()).ok).toBe(true);
  });

  it('fails closed when the database file disappears, and commits the journaled records to the new file', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    await Promise.all([ev(1), ev(2), ev(3)].map((e) => sink.append(e)));
    await sink.flush();
    rmSync(path.dirname(file), { recursive: true, force: true });
    // Journaled; the insert then finds the file gone and the store is marked failing.
    await sink.append(ev(4));
    await expect(sink.flush()).rejects.toMatchObject({ code: 'audit_unavailable' });
    // The next call opens a new file: the journaled record lands first, then the new one. (On a
    // loaded machine the failed insert can count as slow, like a lock wait: calls are then refused
    // until the background retry, at most RETRY_MS later, has opened the new file.)
    const deadline = Date.now() + 5_000;
    for (;;) {
      const appended = await sink.append(ev(5)).then(
        () => true,
        (error: unknown) => {
          if (Date.now() > deadline) throw error;
          return false;
        },
      );
      if (appended) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const records = await sink.tail(10);
    expect(records.map((r) => [r.seq, r.requestId])).toEqual([
      [4, 'r4'],
      [5, 'r5'],
    ]);
    const report = await sink.verify();
    expect(report.problems).toEqual([`writer ${sink.writer} seq 1-3: missing (3 records deleted)`]);
  });

  it('replays the journal of a process killed before its records reached SQLite', async () => {
    const file = freshPath();
    const first = sinkAt(file);
    await first.append(ev(0, 'parent'));
    await first.flush();
    const script = path.join(root, `crash-${n}.mts`);
    writeFileSync(
      script,
      `import { createSqliteSink } from ${JSON.stringify(path.join(repoRoot, 'src/audit/sqlite/sqlite-sink.ts'))};
       import { silentLogger } from ${JSON.stringify(path.join(repoRoot, 'src/observability/logger.ts'))};
       const sink = createSqliteSink({ path: ${JSON.stringify(file)}, logger: silentLogger(), writer: 'crashed-writer' });
       await sink.append({ type: 'call.started', time: new Date().toISOString(), agent: 'child', requestId: 'c0' });
       await sink.flush();
       // Appended in one loop turn: journaled (the first at once, the rest in one write), and the batched insert is 10 ms away.
       await Promise.all([1, 2, 3, 4, 5].map((i) => sink.append({ type: 'call.started', time: new Date().toISOString(), agent: 'child', requestId: 'c' + i })));
       // Killed before the batched insert of c1..c5 runs.
       process.stdout.write(String(sink.pending));
       process.kill(process.pid, 'SIGKILL');`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_c, s) => resolve(s)),
    );
    expect(signal).toBe('SIGKILL');
    expect(stdout).toBe('5');
    const before = new Database(file, { readonly: true });
    expect(before.prepare(`SELECT count(*) AS n FROM audit_events WHERE agent = 'child'`).get()).toEqual({
      n: 1,
    });
    before.close();

    // The next sink to open the database finds the dead process's journal and inserts what is missing.
    const next = sinkAt(file);
    const child5 = await next.query({ agent: 'child', limit: 10 });
    expect(child5.map((r) => [r.writer, r.seq, r.requestId])).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => ['crashed-writer', i + 1, `c${i}`]),
    );
    expect(await next.verify()).toMatchObject({ ok: true, writers: 2, records: 7 });
    const journals = readdirSync(`${file}.journals`);
    expect(journals.every((name) => name.includes(`~${process.pid}~`))).toBe(true);
  });

  it('replays a dead journal once, skipping torn lines and records already stored, and leaves live ones alone', async () => {
    const file = freshPath();
    const sink = sinkAt(file, {});
    await sink.append(ev(1));
    await sink.flush();
    const [stored] = await sink.tail(1);
    const dir = `${file}.journals`;
    const host = hostname()
      .replace(/[^A-Za-z0-9.-]/g, '_')
      .slice(0, 64);
    const deadPid = 2 ** 22 + 12345; // above pid_max on Linux: never a live process
    const rec = (seq: number, prevHash: string) =>
      JSON.stringify({
        agent: 'ghost',
        prevHash,
        requestId: `g${seq}`,
        seq,
        time: new Date().toISOString(),
        type: 'call.started',
        writer: 'ghost',
      });
    const l1 = rec(1, '0'.repeat(64));
    const l2 = rec(2, createHash('sha256').update(l1).digest('hex'));
    // Two processes' journals: a dead one (its line 1 is also already in the table) and a live one (pid 1).
    writeFileSync(path.join(dir, `${host}~${deadPid}~abcdef.jsonl`), `\n${l1}\n${l2}\n{"torn":`);
    writeFileSync(path.join(dir, `${host}~1~abcdef.jsonl`), `${rec(9, '0'.repeat(64))}\n`);
    const db = new Database(file);
    db.prepare(
      `INSERT INTO audit_events (writer, seq, prev_hash, hash, time_ms, type, agent, request_id, record)
       VALUES ('ghost', 1, ?, ?, ?, 'call.started', 'ghost', 'g1', ?)`,
    ).run('0'.repeat(64), createHash('sha256').update(l1).digest('hex'), Date.parse(JSON.parse(l1).time), l1);
    db.close();

    const reader = sinkAt(file);
    const ghosts = await reader.query({ agent: 'ghost', limit: 10 });
    expect(ghosts.map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'g1'],
      [2, 'g2'],
    ]);
    expect(await reader.verify()).toMatchObject({ ok: true, records: 3 });
    expect(existsSync(path.join(dir, `${host}~${deadPid}~abcdef.jsonl`))).toBe(false);
    expect(existsSync(path.join(dir, `${host}~1~abcdef.jsonl`))).toBe(true);
    expect(stored?.seq).toBe(1);
  });

  it('journals the first append of a loop turn at once and the rest of the turn in one write; each resolves once its line is written', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    const write = vi.spyOn(WriteAheadJournal.prototype, 'append');
    const journalLines = (): { seq: number; requestId: string }[] => {
      const [journal] = readdirSync(`${file}.journals`);
      return readFileSync(path.join(`${file}.journals`, journal ?? ''), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { seq: number; requestId: string });
    };
    try {
      const appends = [1, 2, 3, 4, 5].map((i) => sink.append(ev(i)));
      // A call alone does not wait for the end of the turn: its record is already in the journal.
      expect(write).toHaveBeenCalledTimes(1);
      expect(journalLines().map((l) => l.requestId)).toEqual(['r1']);
      await Promise.all(appends);
      expect(write).toHaveBeenCalledTimes(2);
      expect(journalLines().map((l) => [l.seq, l.requestId])).toEqual(
        [1, 2, 3, 4, 5].map((i) => [i, `r${i}`]),
      );
      // The next turn's first append is written at once, continuing the chain.
      await new Promise((resolve) => setImmediate(resolve));
      void sink.append(ev(6));
      expect(write).toHaveBeenCalledTimes(3);
      expect(journalLines().map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      write.mockRestore();
    }
    expect(await sink.verify()).toMatchObject({ ok: true, records: 6 });
  });

  it('refuses every append of a group whose journal write fails; the chain continues from the last written record', async () => {
    const file = freshPath();
    const sink = sinkAt(file);
    await sink.append(ev(1));
    const full = (): never => {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    // Both writes of the next turn fail: its first append's, then the group of the other two.
    const write = vi
      .spyOn(WriteAheadJournal.prototype, 'append')
      .mockImplementationOnce(full)
      .mockImplementationOnce(full);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      const refused = await Promise.allSettled([2, 3, 4].map((i) => sink.append(ev(i))));
      expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      for (const r of refused) {
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'audit_unavailable' });
      }
      await sink.append(ev(5));
    } finally {
      write.mockRestore();
    }
    const records = await sink.tail(10);
    expect(records.map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'r1'],
      [2, 'r5'],
    ]);
    expect(await sink.verify()).toMatchObject({ ok: true, records: 2 });
  });

  it('removes its journal on close once everything is in the database', async () => {
    const file = freshPath();
    const sink = createSqliteSink({ path: file, logger });
    // One loop turn (two journal writes): the batched insert has not run yet.
    await Promise.all(Array.from({ length: 10 }, (_, i) => sink.append(ev(i))));
    expect(sink.pending).toBe(10);
    expect(readdirSync(`${file}.journals`)).toHaveLength(1);
    await sink.close();
    expect(readdirSync(`${file}.journals`)).toEqual([]);
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM audit_events').get()).toEqual({ n: 10 });
    db.close();
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
