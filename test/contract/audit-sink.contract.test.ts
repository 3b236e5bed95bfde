/** The AuditSink contract, run against every implementation: SQLite (file) and PostgreSQL (real server). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { AuditSink } from '../../src/audit/audit-sink.js';
import type { AuditEvent } from '../../src/core/types.js';
import { createSqliteSink } from '../../src/audit/sqlite/sqlite-sink.js';
import { createPostgresSink } from '../../src/audit/postgres/postgres-sink.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { AnchorOptions } from '../../src/audit/checkpoints.js';

const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const logger = silentLogger();

/** One fresh, isolated store per test and the raw SQL access a tamperer would have. */
interface Store {
  open(anchor?: AnchorOptions): Promise<AuditSink>;
  /** Runs SQL against the table `audit_events` with the append-only triggers disabled. */
  tamper(sql: string, params?: unknown[]): Promise<void>;
  /** Runs SQL with the triggers left in place. */
  exec(sql: string): Promise<void>;
}

interface Harness {
  name: string;
  store(): Promise<Store>;
  unwritable(): Promise<AuditSink>;
  cleanup(): Promise<void>;
}

const sqliteHarness = (): Harness => {
  const root = mkdtempSync(path.join(tmpdir(), 'keyward-audit-contract-'));
  let n = 0;
  return {
    name: 'sqlite',
    async store() {
      const file = path.join(root, `s${++n}`, 'audit.db');
      return {
        open: async (anchor) =>
          createSqliteSink({ path: file, logger, ...(anchor === undefined ? {} : { anchor }) }),
        async tamper(sql, params = []) {
          const db = new Database(file);
          db.exec(
            'DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;',
          );
          db.prepare(sql).run(...params);
          db.close();
        },
        async exec(sql) {
          const db = new Database(file);
          try {
            db.exec(sql);
          } finally {
            db.close();
          }
        },
      };
    },
    async unwritable() {
      // A regular file where the directory should be: nothing can be created beneath it.
      const blocker = path.join(root, 'not-a-dir');
      writeFileSync(blocker, 'x');
      return createSqliteSink({ path: path.join(blocker, 'audit.db'), logger });
    },
    async cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
};

const postgresHarness = (): Harness => {
  const prefix = `kw_audit_c_${randomBytes(4).toString('hex')}`;
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  return {
    name: 'postgres',
    async store() {
      const schema = `${prefix}_${schemas.length}`;
      schemas.push(schema);
      const opts = { url: PG_URL, schema, statementTimeoutMs: 2000, connectTimeoutMs: 2000, logger };
      const withTable = async (sql: string, params: unknown[], disable: boolean) => {
        const client = await admin.connect();
        try {
          await client.query(`SET search_path TO "${schema}"`);
          if (disable) await client.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
          await client.query(sql, params);
          if (disable) await client.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
        } finally {
          await client.query('RESET search_path').catch(() => undefined);
          client.release();
        }
      };
      return {
        open: (anchor) => createPostgresSink({ ...opts, ...(anchor === undefined ? {} : { anchor }) }),
        tamper: (sql, params = []) => withTable(sql, params, true),
        exec: (sql) => withTable(sql, [], false),
      };
    },
    async unwritable() {
      // A closed local port: nothing listens there.
      const port = await closedPort();
      return createPostgresSink({
        url: `postgres://postgres@127.0.0.1:${port}/test`,
        schema: `${prefix}_x`,
        statementTimeoutMs: 500,
        connectTimeoutMs: 500,
        logger,
      });
    },
    async cleanup() {
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await admin.end();
    },
  };
};

async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

let clock = Date.parse('2026-03-01T10:00:00.000Z');
function event(overrides: Partial<AuditEvent> = {}): AuditEvent {
  clock += 1000;
  return {
    type: 'call.started',
    time: new Date(clock).toISOString(),
    requestId: `req-${randomBytes(4).toString('hex')}`,
    agent: 'alice',
    tenant: 'acme',
    tool: 'github_get_repo',
    permission: 'github:read',
    decision: 'allow',
    ruleIds: ['read'],
    ...overrides,
  };
}

/**
 * Appends in order, then flushes: `append` resolves once the event is recorded (for SQLite, in its
 * write-ahead journal); `flush` makes every recorded event visible to other connections of the store.
 */
async function appendAll(sink: AuditSink, events: AuditEvent[]): Promise<void> {
  for (const e of events) await sink.append(e);
  await sink.flush();
}

for (const make of [sqliteHarness, postgresHarness]) {
  const harness = make();
  describe(`AuditSink contract: ${harness.name}`, () => {
    const sinks: AuditSink[] = [];
    const open = async (store: Store) => {
      const sink = await store.open();
      sinks.push(sink);
      return sink;
    };
    afterAll(async () => {
      for (const s of sinks) await s.close().catch(() => undefined);
      await harness.cleanup();
    });

    it('appends and tails in order, records carry the chain fields', async () => {
      const sink = await open(await harness.store());
      const events = [
        event({ type: 'grant.used' }),
        event({ type: 'grant.expired', details: { z: 1, a: [1, 'x'] } }),
        event({ type: 'grant.revoked' }),
      ];
      await appendAll(sink, events);
      const tail = await sink.tail(2);
      expect(tail.map((r) => r.type)).toEqual(['grant.expired', 'grant.revoked']);
      expect(tail[0]).toMatchObject({ ...events[1], seq: 2 });
      expect(tail[1]?.seq).toBe(3);
      expect(tail[1]?.prevHash).toBe(tail[0]?.hash);
      expect(tail[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
      const all = await sink.tail(100);
      expect(all.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(all[0]?.prevHash).toBe('0'.repeat(64));
    });

    it('queries by agent, tenant, tool, type, decision and time range', async () => {
      const sink = await open(await harness.store());
      const e1 = event({
        agent: 'alice',
        tenant: 'acme',
        tool: 't1',
        type: 'call.started',
        decision: 'allow',
      });
      const e2 = event({
        agent: 'bob',
        tenant: 'acme',
        tool: 't2',
        type: 'call.completed',
        decision: 'allow',
      });
      const e3 = event({
        agent: 'bob',
        tenant: 'umbrella',
        tool: 't1',
        type: 'call.started',
        decision: 'deny',
      });
      const e4 = event({ agent: "x'); DROP TABLE audit_events;--", tenant: 'acme', tool: 't3' });
      await appendAll(sink, [e1, e2, e3, e4]);
      const ids = async (q: Parameters<AuditSink['query']>[0]) =>
        (await sink.query(q)).map((r) => r.requestId);
      expect(await ids({ agent: 'bob' })).toEqual([e2.requestId, e3.requestId]);
      expect(await ids({ tenant: 'acme', tool: 't1' })).toEqual([e1.requestId]);
      expect(await ids({ type: 'call.completed' })).toEqual([e2.requestId]);
      expect(await ids({ decision: 'deny' })).toEqual([e3.requestId]);
      expect(await ids({ requestId: e2.requestId! })).toEqual([e2.requestId]);
      expect(await ids({ requestId: "x' OR '1'='1" })).toEqual([]);
      expect(await ids({ since: e2.time, until: e3.time })).toEqual([e2.requestId]);
      expect(await ids({ since: e3.time })).toEqual([e3.requestId, e4.requestId]);
      expect(await ids({ tenant: 'acme', limit: 2 })).toEqual([e2.requestId, e4.requestId]);
      expect(await ids({ agent: e4.agent as string })).toEqual([e4.requestId]);
      expect(await ids({ agent: 'nobody' })).toEqual([]);
      await expect(sink.query({ since: 'yesterday-ish' })).rejects.toThrow(/invalid since time/);
      expect((await sink.verify()).ok).toBe(true);
    });

    it('verifies an intact chain', async () => {
      const sink = await open(await harness.store());
      await appendAll(sink, [event(), event(), event()]);
      expect(await sink.verify()).toEqual({ ok: true, records: 3, writers: 1, problems: [] });
    });

    it('refuses UPDATE and DELETE while the triggers are in place', async () => {
      const store = await harness.store();
      const sink = await open(store);
      await appendAll(sink, [event(), event()]);
      await expect(store.exec(`UPDATE audit_events SET agent = 'mallory'`)).rejects.toThrow(/append-only/);
      await expect(store.exec('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
      expect((await sink.verify()).ok).toBe(true);
    });

    it('detects an edited record (body or indexed column), triggers dropped', async () => {
      const store = await harness.store();
      const sink = await open(store);
      await appendAll(sink, [event(), event(), event(), event()]);
      const writer = (await sink.tail(1))[0]?.writer as string;
      await store.tamper(
        `UPDATE audit_events SET record = replace(record, '"alice"', '"mallory"') WHERE seq = 2`,
      );
      await store.tamper(`UPDATE audit_events SET tenant = 'other' WHERE seq = 4`);
      const report = await sink.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        `writer ${writer} seq 2: hash mismatch (record edited)`,
        `writer ${writer} seq 4: column tenant differs from the hashed record (record edited)`,
      ]);
    });

    it('detects an edit that recomputes the hash (next record no longer links)', async () => {
      const store = await harness.store();
      const sink = await open(store);
      await appendAll(sink, [event(), event(), event()]);
      const rec = (await sink.tail(3))[1];
      if (!rec) throw new Error('missing record');
      const { hash: _h, ...unhashed } = rec;
      const { canonicalJson, sha256Hex } = await import('../../src/audit/hash-chain.js');
      const body = canonicalJson({ ...unhashed, outcome: 'forged' });
      await store.tamper(
        harness.name === 'sqlite'
          ? 'UPDATE audit_events SET record = ?, hash = ? WHERE seq = 2'
          : 'UPDATE audit_events SET record = $1, hash = $2 WHERE seq = 2',
        [body, sha256Hex(body)],
      );
      const report = await sink.verify();
      expect(report.problems).toEqual([
        `writer ${rec.writer} seq 3: prevHash does not match the hash of seq 2 (record inserted, replaced or edited)`,
      ]);
    });

    it('detects an inserted record', async () => {
      const store = await harness.store();
      const sink = await open(store);
      await appendAll(sink, [event(), event(), event()]);
      const second = (await sink.tail(3))[1];
      if (!second) throw new Error('missing record');
      const time = harness.name === 'sqlite' ? 'time_ms' : 'time';
      const copy = `writer, seq, prev_hash, hash, ${time}, type, agent, tenant, tool, decision, request_id, record`;
      await store.tamper(`INSERT INTO audit_events (${copy}) SELECT ${copy} FROM audit_events WHERE seq = 2`);
      const report = await sink.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([`writer ${second.writer} seq 2: duplicate seq (record inserted)`]);
    });

    it('detects a deleted record', async () => {
      const store = await harness.store();
      const sink = await open(store);
      await appendAll(sink, [event(), event(), event(), event(), event()]);
      const writer = (await sink.tail(1))[0]?.writer as string;
      await store.tamper('DELETE FROM audit_events WHERE seq IN (2, 3)');
      const report = await sink.verify();
      expect(report).toMatchObject({ ok: false, records: 3, writers: 1 });
      expect(report.problems).toEqual([`writer ${writer} seq 2-3: missing (2 records deleted)`]);
    });

    it('commits 500 concurrent appends with contiguous seqs', async () => {
      const sink = await open(await harness.store());
      const events = Array.from({ length: 500 }, (_, i) => event({ requestId: `c-${i}` }));
      await Promise.all(events.map((e) => sink.append(e)));
      const all = await sink.tail(1000);
      expect(all).toHaveLength(500);
      expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(new Set(all.map((r) => r.requestId)).size).toBe(500);
      expect(await sink.verify()).toMatchObject({ ok: true, records: 500, writers: 1 });
    });

    it('keeps one chain per writer when two instances share the store', async () => {
      const store = await harness.store();
      const a = await open(store);
      const b = await open(store);
      await Promise.all([
        ...Array.from({ length: 50 }, () => a.append(event({ agent: 'a' }))),
        ...Array.from({ length: 50 }, () => b.append(event({ agent: 'b' }))),
      ]);
      await Promise.all([a.flush(), b.flush()]);
      const report = await a.verify();
      expect(report).toEqual({ ok: true, records: 100, writers: 2, problems: [] });
      expect(await b.verify()).toEqual(report);
      const writers = new Set((await a.tail(100)).map((r) => r.writer));
      expect(writers.size).toBe(2);
    });

    it('rejects appends and reports on probe when the store cannot be written', async () => {
      const sink = await harness.unwritable();
      sinks.push(sink);
      await expect(sink.append(event())).rejects.toMatchObject({ code: 'audit_unavailable' });
      const probe = await sink.probe();
      expect(probe.ok).toBe(false);
      expect(probe.message).toMatch(/not writable|unavailable/);
    });

    it('probes ok on a healthy store', async () => {
      const sink = await open(await harness.store());
      expect((await sink.probe()).ok).toBe(true);
    });

    describe('removal is detected, not only edits (issue 14: keyed chain and checkpoints)', () => {
      const anchored = (): AnchorOptions => ({
        chainKey: randomBytes(32),
        checkpoints: path.join(mkdtempSync(path.join(tmpdir(), 'kw-cp-')), 'audit.checkpoints'),
        checkpointIntervalMs: 60_000,
      });
      /** A writer that recorded `n` events and shut down (so its final head is checkpointed). */
      const runWriter = async (store: Store, anchor: AnchorOptions, n: number): Promise<string> => {
        const sink = await store.open(anchor);
        await appendAll(
          sink,
          Array.from({ length: n }, () => event()),
        );
        const writer = (await sink.tail(1))[0]?.writer as string;
        await sink.close();
        return writer;
      };
      const verifyWith = async (store: Store, anchor: AnchorOptions) => {
        const reader = await open(store);
        // A reader with the same anchor options (what `keyward audit verify` builds from the config).
        const anchoredReader = await store.open(anchor);
        sinks.push(anchoredReader);
        void reader;
        return anchoredReader.verify();
      };

      it('an intact anchored trail verifies', async () => {
        const store = await harness.store();
        const anchor = anchored();
        await runWriter(store, anchor, 4);
        await runWriter(store, anchor, 2);
        expect(await verifyWith(store, anchor)).toMatchObject({
          ok: true,
          records: 6,
          writers: 2,
          problems: [],
        });
      });

      it('the last records of a writer truncated: missing tail', async () => {
        const store = await harness.store();
        const anchor = anchored();
        const writer = await runWriter(store, anchor, 5);
        await store.tamper('DELETE FROM audit_events WHERE seq > 3');
        const report = await verifyWith(store, anchor);
        expect(report.ok).toBe(false);
        expect(report.problems).toEqual([`writer ${writer} seq 4-5: missing tail (records deleted)`]);
      });

      it('a whole writer chain (one server run) deleted: missing writer', async () => {
        const store = await harness.store();
        const anchor = anchored();
        await runWriter(store, anchor, 3);
        const gone = await runWriter(store, anchor, 2);
        await store.tamper(
          harness.name === 'sqlite'
            ? 'DELETE FROM audit_events WHERE writer = ?'
            : 'DELETE FROM audit_events WHERE writer = $1',
          [gone],
        );
        const report = await verifyWith(store, anchor);
        expect(report.problems).toEqual([`writer ${gone}: missing writer (2 checkpointed records are gone)`]);
      });

      it('a record rewritten with every later hash recomputed (without the key): edited', async () => {
        const store = await harness.store();
        const anchor = anchored();
        const writer = await runWriter(store, anchor, 3);
        const { chainRecord } = await import('../../src/audit/hash-chain.js');
        // The tamperer rebuilds the whole chain with plain SHA-256 (it has no key).
        const records = (await (await open(store)).tail(3)).map(
          ({ hash: _h, writer: _w, seq: _s, prevHash: _p, ...e }) => e,
        );
        let prev = '0'.repeat(64);
        for (let i = 0; i < records.length; i++) {
          const rebuilt = chainRecord(
            { ...records[i]!, ...(i === 1 ? { outcome: 'forged' } : {}) } as AuditEvent,
            writer,
            i + 1,
            prev,
          );
          await store.tamper(
            harness.name === 'sqlite'
              ? 'UPDATE audit_events SET record = ?, hash = ?, prev_hash = ? WHERE seq = ?'
              : 'UPDATE audit_events SET record = $1, hash = $2, prev_hash = $3 WHERE seq = $4',
            [rebuilt.body, rebuilt.hash, rebuilt.prevHash, i + 1],
          );
          prev = rebuilt.hash;
        }
        const report = await verifyWith(store, anchor);
        expect(report.ok).toBe(false);
        expect(report.problems.join('\n')).toMatch(/seq 1: hash mismatch \(record edited\)/);
        expect(report.problems.join('\n')).toMatch(/edited \(differs from its signed checkpoint\)/);
      });

      it('a forged writer chain appended (a fake operator grant): forged writer', async () => {
        const store = await harness.store();
        const anchor = anchored();
        await runWriter(store, anchor, 2);
        const { chainRecord } = await import('../../src/audit/hash-chain.js');
        const fake = chainRecord(
          event({ type: 'capability.granted', decision: 'grant', details: { by: 'operator:root' } }),
          'attacker-1-ffffff',
          1,
          '0'.repeat(64),
        );
        const time = harness.name === 'sqlite' ? 'time_ms' : 'time';
        const timeValue = harness.name === 'sqlite' ? Date.parse(fake.event.time) : fake.event.time;
        await store.tamper(
          harness.name === 'sqlite'
            ? `INSERT INTO audit_events (writer, seq, prev_hash, hash, ${time}, type, agent, tenant, tool, decision, request_id, record) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
            : `INSERT INTO audit_events (writer, seq, prev_hash, hash, ${time}, type, agent, tenant, tool, decision, request_id, record) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [
            fake.writer,
            fake.prevHash,
            fake.hash,
            timeValue,
            fake.event.type,
            'alice',
            'acme',
            'github_get_repo',
            'grant',
            fake.event.requestId,
            fake.body,
          ],
        );
        const report = await verifyWith(store, anchor);
        expect(report.problems).toContain(
          'writer attacker-1-ffffff: forged writer (not in the writer registry)',
        );
        expect(report.problems).toContain('writer attacker-1-ffffff seq 1: hash mismatch (record edited)');
      });

      it('a forged checkpoint line is named, and does not hide a removal', async () => {
        const store = await harness.store();
        const anchor = anchored();
        const writer = await runWriter(store, anchor, 4);
        await store.tamper('DELETE FROM audit_events WHERE seq > 2');
        const { appendFileSync } = await import('node:fs');
        appendFileSync(
          anchor.checkpoints!,
          `${JSON.stringify({ writer, seq: 2, hash: 'x', time: new Date().toISOString(), mac: 'f'.repeat(64) })}\n`,
        );
        const report = await verifyWith(store, anchor);
        expect(report.problems).toContain(`writer ${writer} seq 3-4: missing tail (records deleted)`);
        expect(report.problems.some((p) => /forged checkpoint \(signature invalid\)/.test(p))).toBe(true);
      });
    });

    it('close flushes pending appends', async () => {
      const store = await harness.store();
      const sink = await store.open();
      const settled = Array.from({ length: 20 }, () => sink.append(event()));
      await sink.close();
      await Promise.all(settled);
      await expect(sink.append(event())).rejects.toMatchObject({ code: 'audit_unavailable' });
      const reader = await open(store);
      expect(await reader.verify()).toMatchObject({ ok: true, records: 20, writers: 1 });
    });
  });
}
