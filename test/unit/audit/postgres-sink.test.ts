/**
 * PostgreSQL sink specifics against the real server: migrations, the compliance view, fail closed
 * through a TCP proxy that is cut or goes silent mid-run, and the chain after an ambiguous commit.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPostgresSink, type PostgresAuditSink } from '../../../src/audit/postgres/postgres-sink.js';
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
    expect(res.rows).toEqual([{ version: 1 }]);
    expect(await started[0]?.verify()).toMatchObject({ ok: true, records: 3, writers: 3 });
  });

  it('exposes a read-only compliance view with one column per audited field', async () => {
    const schema = newSchema();
    const sink = await sinkFor(schema);
    const e = ev({ details: { retried: true } });
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
      seq: '1',
    });
    expect((res.rows[0] as { time: Date }).time.toISOString()).toBe(e.time);
    await expect(admin.query(`UPDATE "${schema}".audit_events_v SET agent = 'x'`)).rejects.toThrow();
    await expect(admin.query(`DELETE FROM "${schema}".audit_events_v`)).rejects.toThrow();
    await expect(admin.query(`TRUNCATE "${schema}".audit_events`)).rejects.toThrow(/append-only/);
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
