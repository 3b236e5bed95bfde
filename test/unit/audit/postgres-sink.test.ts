/**
 * PostgreSQL sink specifics against the real server: migrations, the compliance view, fail closed
 * through a TCP proxy that is cut or goes silent mid-run, and the chain after an ambiguous commit.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  createPostgresSink,
  joinColumn,
  type PostgresAuditSink,
} from '../../../src/audit/postgres/postgres-sink.js';
import { MIGRATIONS } from '../../../src/audit/postgres/migrations.js';
import { WriterChain } from '../../../src/audit/hash-chain.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { AuditEvent } from '../../../src/core/types.js';

const PG_HOST = '127.0.0.1';
const PG_PORT = 5432;
const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? `postgres://postgres@${PG_HOST}:${PG_PORT}/test`;
const prefix = `kw_audit_u_${randomBytes(4).toString('hex')}`;
const schemas: string[] = [];
const sinks: PostgresAuditSink[] = [];
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
const logger = silentLogger();

function newSchema(): string {
  const s = `${prefix}_${schemas.length}`;
  schemas.push(s);
  return s;
}

async function sinkFor(
  schema: string,
  url = PG_URL,
  extra: Partial<{ statementTimeoutMs: number; writeTimeoutMs: number }> = {},
) {
  const sink = await createPostgresSink({
    url,
    schema,
    statementTimeoutMs: extra.statementTimeoutMs ?? 2000,
    connectTimeoutMs: 1000,
    logger,
    ...(extra.writeTimeoutMs === undefined ? {} : { writeTimeoutMs: extra.writeTimeoutMs }),
  });
  sinks.push(sink);
  return sink;
}

let t = Date.parse('2026-02-01T00:00:00.000Z');
const ev = (extra: Partial<AuditEvent> = {}): AuditEvent => ({
  type: 'call.completed',
  time: new Date((t += 1000)).toISOString(),
  requestId: `r-${randomBytes(3).toString('hex')}`,
  agent: 'alice',
  tenant: 'acme',
  tool: 'github_get_repo',
  permission: 'github:read',
  decision: 'allow',
  ruleIds: ['read'],
  keyId: 'vault:github',
  keyVersion: '3',
  origin: 'https://api.github.com',
  status: 200,
  outcome: 'ok',
  latencyMs: 12.5,
  ...extra,
});

/** A TCP proxy to PostgreSQL that can pass traffic, swallow the server's replies, or be cut. */
class Proxy {
  mode: 'pass' | 'silent' = 'pass';
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(PG_PORT, PG_HOST);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (this.mode === 'pass') client.write(d);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/test`;
  }

  /** Closes the listener and destroys every open connection. */
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const proxies: Proxy[] = [];

afterAll(async () => {
  for (const p of proxies) await p.cut().catch(() => undefined);
  for (const s of sinks) await s.close().catch(() => undefined);
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
});

describe('PostgresAuditSink', () => {
  it('migrates once even when several instances start together', async () => {
    const schema = newSchema();
    const started = await Promise.all([sinkFor(schema), sinkFor(schema), sinkFor(schema)]);
    await Promise.all(started.map((s, i) => s.append(ev({ agent: `a${i}` }))));
    const res = await admin.query(`SELECT version FROM "${schema}".audit_migrations`);
    expect(res.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    expect(await started[0]?.verify()).toMatchObject({ ok: true, records: 3, writers: 3 });
  });

  it('exposes a read-only compliance view with one column per audited field', async () => {
    const schema = newSchema();
    const sink = await sinkFor(schema);
    const e = { ...ev({ details: { retried: true } }), user: 'gina' };
    await sink.append(e);
    const res = await admin.query(`SELECT * FROM "${schema}".audit_events_v WHERE agent = $1 AND tool = $2`, [
      'alice',
      'github_get_repo',
    ]);
    expect(res.rows).toHaveLength(1);
    expect(res.rows[0]).toMatchObject({
      type: 'call.completed',
      agent: 'alice',
      tenant: 'acme',
      tool: 'github_get_repo',
      permission: 'github:read',
      decision: 'allow',
      rule_ids: ['read'],
      outcome: 'ok',
      status: 200,
      latency_ms: 12.5,
      key_id: 'vault:github',
      key_version: '3',
      origin: 'https://api.github.com',
      request_id: e.requestId,
      details: { retried: true },
      user_name: 'gina',
      seq: '1',
    });
    expect((res.rows[0] as { time: Date }).time.toISOString()).toBe(e.time);
    await expect(admin.query(`UPDATE "${schema}".audit_events_v SET agent = 'x'`)).rejects.toThrow();
    await expect(admin.query(`DELETE FROM "${schema}".audit_events_v`)).rejects.toThrow();
    await expect(admin.query(`TRUNCATE "${schema}".audit_events`)).rejects.toThrow(/append-only/);
  });

  it('the compliance view answers for records whose agent-written text holds NUL or lone surrogates', async () => {
    // PostgreSQL's jsonb has no NUL and no lone surrogate: cast as is, one justification carrying
    // either made every query of the view that reached its row fail, for every tenant.
    const schema = newSchema();
    const sink = await sinkFor(schema);
    await sink.append(ev({ details: { justification: 'ok\u0000then\ud800end', path: 'C:\\u0000dir' } }));
    await sink.append(ev({ agent: 'bob' }));
    const res = await admin.query<{ agent: string; details: Record<string, string> | null }>(
      `SELECT agent, details FROM "${schema}".audit_events_v ORDER BY id`,
    );
    expect(res.rows.map((r) => r.agent)).toEqual(['alice', 'bob']);
    // Shown as the visible escapes an operator reads elsewhere; a literal backslash stays one.
    expect(res.rows[0]?.details).toEqual({ justification: 'ok\\u0000then\\ud800end', path: 'C:\\u0000dir' });
    // The table keeps the record exactly, and the chain verifies.
    expect((await sink.tail(2))[0]?.details).toEqual({
      justification: 'ok\u0000then\ud800end',
      path: 'C:\\u0000dir',
    });
    expect(await sink.verify()).toMatchObject({ ok: true, records: 2 });
  });

  it('writes a batch of concurrent appends with one INSERT statement', async () => {
    const schema = newSchema();
    const sink = await sinkFor(schema);
    await sink.append(ev());
    await Promise.all(Array.from({ length: 200 }, () => sink.append(ev())));
    // Rows written by one statement share their transaction id (xmin).
    const res = await admin.query<{ tx: string; rows: string }>(
      `SELECT count(DISTINCT xmin::text)::text AS tx, count(*)::text AS rows FROM "${schema}".audit_events`,
    );
    expect(res.rows[0]?.rows).toBe('201');
    expect(Number(res.rows[0]?.tx)).toBeLessThanOrEqual(4);
    expect(await sink.verify()).toMatchObject({ ok: true, records: 201 });
  });

  it('fails closed quickly when the connection is cut mid-run, then recovers', async () => {
    const proxy = new Proxy();
    proxies.push(proxy);
    await proxy.start();
    const schema = newSchema();
    const sink = await sinkFor(schema, proxy.url);
    await Promise.all([sink.append(ev()), sink.append(ev())]);
    await proxy.cut();
    const started = performance.now();
    await expect(sink.append(ev())).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(performance.now() - started).toBeLessThan(2500);
    expect((await sink.probe()).ok).toBe(false);
    await proxy.start(proxy.port);
    await sink.append(ev());
    const report = await sink.verify();
    expect(report).toEqual({ ok: true, records: 3, writers: 1, problems: [] });
  });

  it('bounds a silent (hanging) store by the write timeout and keeps the chain intact after an ambiguous commit', async () => {
    const proxy = new Proxy();
    proxies.push(proxy);
    await proxy.start();
    const schema = newSchema();
    const sink = await sinkFor(schema, proxy.url, { statementTimeoutMs: 300, writeTimeoutMs: 1500 });
    await sink.append(ev());
    // The server receives and commits the INSERT, but its reply never arrives.
    proxy.mode = 'silent';
    const started = performance.now();
    await expect(sink.append(ev({ requestId: 'ambiguous' }))).rejects.toMatchObject({
      code: 'audit_unavailable',
    });
    expect(performance.now() - started).toBeLessThan(1500 + 500);
    proxy.mode = 'pass';
    await sink.append(ev({ requestId: 'after' }));
    const records = await sink.tail(10);
    expect(
      records.map((r) => [
        r.seq,
        r.requestId === 'ambiguous' || r.requestId === 'after' ? r.requestId : 'first',
      ]),
    ).toEqual([
      [1, 'first'],
      [2, 'ambiguous'],
      [3, 'after'],
    ]);
    expect(await sink.verify()).toEqual({ ok: true, records: 3, writers: 1, problems: [] });
  });

  it('upgrades a v1 schema holding rows to v2 in place: cheaper indexes, same rows, chains still verify', async () => {
    const schema = newSchema();
    const s = `"${schema}"`;
    // A store as v1 left it: the v1 table, indexes and triggers, and rows written by a v1 writer.
    const v1 = MIGRATIONS.find((m) => m.version === 1);
    expect(v1).toBeDefined();
    await admin.query(`CREATE SCHEMA ${s}`);
    await admin.query(
      `CREATE TABLE ${s}.audit_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await admin.query(v1?.sql(s) ?? '');
    await admin.query(`INSERT INTO ${s}.audit_migrations (version, description) VALUES (1, 'v1')`);
    const old = new WriterChain('old-writer');
    const oldEvents = [
      ev({ agent: 'bob', tool: 'github_get_repo', decision: 'allow' }),
      ev({ agent: 'carol', tenant: 'globex', tool: 'slack_post', decision: 'deny' }),
      ev({
        agent: 'bob',
        tool: 'slack_post',
        decision: 'allow',
        details: { note: 'line1\nline2 "quoted" \\ é' },
      }),
    ];
    const records = old.build(oldEvents);
    for (const r of records) {
      const e = r.event;
      await admin.query(
        `INSERT INTO ${s}.audit_events (writer, seq, prev_hash, hash, time, type, agent, tenant, tool, decision, request_id, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          r.writer,
          r.seq,
          r.prevHash,
          r.hash,
          e.time,
          e.type,
          e.agent,
          e.tenant,
          e.tool,
          e.decision,
          e.requestId,
          r.body,
        ],
      );
    }
    const indexes = async () =>
      (
        await admin.query<{ indexname: string; indexdef: string }>(
          `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'audit_events' ORDER BY indexname`,
          [schema],
        )
      ).rows;
    expect((await indexes()).map((i) => i.indexname)).toContain('audit_events_agent');

    const sink = await sinkFor(schema);
    const versions = await admin.query(`SELECT version FROM ${s}.audit_migrations ORDER BY version`);
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    const after = await indexes();
    expect(after.map((i) => i.indexname)).toEqual([
      'audit_events_pkey',
      'audit_events_time_brin',
      'audit_events_writer_seq',
    ]);
    expect(after.find((i) => i.indexname === 'audit_events_time_brin')?.indexdef).toMatch(
      /USING brin \("?time"?\)/,
    );

    // The old rows verify, new ones chain on this sink's own writer, and reads still find both.
    expect(await sink.verify()).toEqual({ ok: true, records: 3, writers: 1, problems: [] });
    await Promise.all([
      sink.append(ev({ agent: 'bob', tool: 'slack_post', decision: 'deny' })),
      sink.append(ev({ agent: 'dave', details: { note: 'a\nb' } })),
    ]);
    expect(await sink.verify()).toEqual({ ok: true, records: 5, writers: 2, problems: [] });
    const bob = await sink.query({ agent: 'bob' });
    expect(bob.map((r) => [r.writer, r.tool, r.decision])).toEqual([
      ['old-writer', 'github_get_repo', 'allow'],
      ['old-writer', 'slack_post', 'allow'],
      [sink.writer, 'slack_post', 'deny'],
    ]);
    expect(bob[1]?.details).toEqual({ note: 'line1\nline2 "quoted" \\ é' });
    const slack = await sink.query({ tool: 'slack_post', since: oldEvents[1]?.time, limit: 2 });
    expect(slack.map((r) => r.agent)).toEqual(['bob', 'bob']);
    expect(slack[0]?.writer).toBe('old-writer');
    expect((await sink.query({ tenant: 'globex', decision: 'deny' })).map((r) => r.agent)).toEqual(['carol']);
    expect(
      (await sink.query({ since: oldEvents[0]?.time, until: oldEvents[1]?.time })).map((r) => r.agent),
    ).toEqual(['bob']);
    expect((await sink.tail(2)).map((r) => r.agent).sort()).toEqual(['bob', 'dave']);
    const dave = await sink.query({ agent: 'dave' });
    expect(dave[0]?.details).toEqual({ note: 'a\nb' });

    // Migrating again is a no-op, and the triggers and view survived the upgrade.
    const again = await sinkFor(schema);
    await again.append(ev());
    expect((await admin.query(`SELECT version FROM ${s}.audit_migrations`)).rows).toHaveLength(4);
    await expect(admin.query(`DELETE FROM ${s}.audit_events`)).rejects.toThrow(/append-only/);
    const view = await admin.query(
      `SELECT agent, decision, user_name FROM ${s}.audit_events_v WHERE tenant = 'globex'`,
    );
    expect(view.rows).toEqual([{ agent: 'carol', decision: 'deny', user_name: null }]);
  });

  it('stores bodies with newlines, quotes, backslashes and non-ASCII text byte for byte', async () => {
    const schema = newSchema();
    const sink = await sinkFor(schema);
    const tricky = [
      ev({ details: { text: 'a\nb\r\nc', q: '"{},\\"', u: 'é€𝄞', empty: '' } }),
      ev({ agent: 'line\nbreak', tool: 't"q', details: { arr: ['x\ny', '\\n'] } }),
      ev({ details: {} }),
    ];
    await Promise.all(tricky.map((e) => sink.append(e)));
    const stored = await sink.tail(10);
    expect(stored).toHaveLength(3);
    expect(stored.map((r) => r.details)).toEqual(tricky.map((e) => e.details));
    expect(stored[1]?.agent).toBe('line\nbreak');
    expect(await sink.verify()).toEqual({ ok: true, records: 3, writers: 1, problems: [] });
  });

  it('stores each column value exactly, nulls, empty strings and the separators included, batched or alone', async () => {
    const schema = newSchema();
    const sink = await sinkFor(schema);
    /** An event without a decision (a null column). */
    const undecided = (extra: Partial<AuditEvent> = {}): AuditEvent => {
      const { decision: _, ...rest } = ev(extra);
      return rest;
    };
    const odd: AuditEvent[] = [
      undecided({ agent: '', tenant: '\x01', tool: 'a,b', requestId: '"{x}"' }),
      ev({ time: 'not a time', agent: ' ', tenant: '\\N', tool: '\r', requestId: '\x01\x01' }),
      undecided({ agent: 'é€𝄞' }),
    ];
    const cases = [
      // Alone: a single empty or null-mark value, whose joined form splits to no element or to NULL.
      [ev({ agent: '' })],
      [ev({ tenant: '\x01' })],
      [undecided({ tool: '' })],
      odd,
      // A newline in one value: the whole batch takes the array form.
      [ev(), ev({ requestId: 'a\nb' }), undecided()],
    ];
    const expected: AuditEvent[] = [];
    for (const batch of cases) {
      await Promise.all(batch.map((e) => sink.append(e)));
      expected.push(...batch);
    }
    const res = await admin.query<{
      time: Date | null;
      type: string;
      agent: string | null;
      tenant: string | null;
      tool: string | null;
      decision: string | null;
      request_id: string | null;
    }>(
      `SELECT time, type, agent, tenant, tool, decision, request_id FROM "${schema}".audit_events ORDER BY seq`,
    );
    expect(res.rows).toEqual(
      expected.map((e) => ({
        time: Number.isNaN(Date.parse(e.time)) ? null : new Date(e.time),
        type: e.type,
        agent: e.agent ?? null,
        tenant: e.tenant ?? null,
        tool: e.tool ?? null,
        decision: e.decision ?? null,
        request_id: e.requestId ?? null,
      })),
    );
    expect(await sink.verify()).toEqual({ ok: true, records: expected.length, writers: 1, problems: [] });
  });

  it('joins a column only when splitting the joined string gives back the same values', () => {
    expect(joinColumn(['a', null, 'b,c', ''])).toBe('a\n\x01\nb,c\n');
    expect(joinColumn([null])).toBe('\x01');
    expect(joinColumn(['', ''])).toBe('\n');
    expect(joinColumn([''])).toBeUndefined();
    expect(joinColumn(['a', 'b\nc'])).toBeUndefined();
    expect(joinColumn(['a', '\x01'])).toBeUndefined();
  });

  it('rejects at once when the server is unreachable and never hangs', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const sink = await sinkFor(newSchema(), `postgres://postgres@127.0.0.1:${port}/test`);
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => sink.append(ev())));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000);
    await expect(sink.verify()).rejects.toThrow();
  });
});
