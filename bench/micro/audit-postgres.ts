/**
 * The PostgreSQL audit sink alone, in process: this build's sink against a baseline build's, the
 * two audit writes of a call (`call.started`, then `call.completed` one loop turn later),
 * `concurrency` calls in flight, alternating batches in one process so both builds see the same
 * machine load. Each build writes to its own schema (dropped afterwards) of the shared server.
 * Reports per batch pair: calls/s, CPU per call of this process, and CPU per call of the server
 * backends serving the build's pool (read from /proc, so the server must run on this machine; a
 * backend is the build's when its last query names the build's schema).
 *
 *   node --import tsx bench/micro/audit-postgres.ts <baseline>/dist/src [batches=10] [calls=3000] [concurrency=64]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { repoRoot } from '../lib/proc.js';
import type * as PostgresModule from '../../src/audit/postgres/postgres-sink.js';
import type * as LoggerModule from '../../src/observability/logger.js';
import type { AuditEvent } from '../../src/core/types.js';

const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Build {
  readonly name: string;
  readonly schema: string;
  readonly sink: PostgresModule.PostgresAuditSink;
}

const run = randomBytes(3).toString('hex');

async function load(name: string, build: string, index: number): Promise<Build> {
  const { createPostgresSink } = (await import(
    `${build}/audit/postgres/postgres-sink.js`
  )) as typeof PostgresModule;
  const { silentLogger } = (await import(`${build}/observability/logger.js`)) as typeof LoggerModule;
  const schema = `bench_pg_${run}_${index}`;
  const sink = await createPostgresSink({
    url: PG_URL,
    schema,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    logger: silentLogger(),
  });
  return { name, schema, sink };
}

async function call(sink: Build['sink'], k: number): Promise<void> {
  // The fields the call step sets on a bench call (src/server/steps/audit-call.ts).
  const base = {
    time: new Date().toISOString(),
    requestId: `req-${k}`,
    agent: 'local',
    tenant: 'default',
    tool: 'get_item',
    permission: 'items:read',
    decision: 'allow',
    ruleIds: ['allow-read'],
    origin: 'http://127.0.0.1:8080',
  };
  await sink.append({ type: 'call.started', ...base } as AuditEvent);
  await new Promise((resolve) => setImmediate(resolve));
  await sink.append({
    type: 'call.completed',
    ...base,
    outcome: 'ok',
    latencyMs: 0.42,
    status: 200,
    keyId: 'bench_key',
    keyVersion: '1',
  } as AuditEvent);
}

/** CPU time (µs) of the server backends whose last query names `schema`. */
async function backendCpu(admin: pg.Client, schema: string): Promise<number> {
  const res = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
    [`"${schema}".audit_events`],
  );
  let ticks = 0;
  for (const { pid } of res.rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // The backend ended.
    }
  }
  return ticks * 10_000; // USER_HZ = 100
}

function quantile(sorted: readonly number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo);
}

const baselineDir = process.argv[2];
if (baselineDir === undefined)
  throw new Error('usage: audit-postgres.ts <baseline dist/src> [batches] [calls] [concurrency]');
const batches = Number(process.argv[3] ?? 10);
const calls = Number(process.argv[4] ?? 3000);
const concurrency = Number(process.argv[5] ?? 64);

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const builds = [
  await load(
    'this build',
    path.resolve(process.env.KEYWARD_MICRO_THIS ?? path.join(repoRoot, 'dist/src')),
    0,
  ),
  await load('baseline', path.resolve(baselineDir), 1),
];

async function batch(build: Build, n: number, offset: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await call(build.sink, offset + next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await build.sink.flush();
}

const results = builds.map(() => ({ rps: [] as number[], cpu: [] as number[], pg: [] as number[] }));
try {
  for (const build of builds) await batch(build, 1000, 0); // warm-up, and the pools' backends exist
  for (let b = 0; b < batches; b++) {
    const order = b % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const build = builds[i]!;
      const pg0 = await backendCpu(admin, build.schema);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await batch(build, calls, (b + 1) * calls);
      const wall = performance.now() - t0;
      const c1 = process.cpuUsage(c0);
      const pg1 = await backendCpu(admin, build.schema);
      results[i]!.rps.push((calls / wall) * 1000);
      results[i]!.cpu.push((c1.user + c1.system) / calls);
      results[i]!.pg.push((pg1 - pg0) / calls);
    }
  }
} finally {
  for (const build of builds) {
    await build.sink.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${build.schema}" CASCADE`);
  }
  await admin.end();
}

const med = (s: readonly number[]) =>
  quantile(
    [...s].sort((x, y) => x - y),
    0.5,
  );
const pairs = (key: 'rps' | 'cpu' | 'pg', f: (a: number, b: number) => number) =>
  results[0]![key].map((v, i) => f(v, results[1]![key][i]!)).sort((x, y) => x - y);
const line = (label: string, key: 'rps' | 'cpu' | 'pg', digits: number) => {
  const d = pairs(key, (a, b) => a - b);
  return (
    `${label}: this build ${med(results[0]![key]).toFixed(digits)}, baseline ${med(results[1]![key]).toFixed(digits)}; ` +
    `per pair ${quantile(d, 0.5).toFixed(digits)} (quartiles ${quantile(d, 0.25).toFixed(digits)} … ${quantile(d, 0.75).toFixed(digits)}), ` +
    `ratio ${quantile(
      pairs(key, (a, b) => a / b),
      0.5,
    ).toFixed(2)}×\n`
  );
};
process.stdout.write(
  `${batches} batch pairs × ${calls} calls (2 appends each), concurrency ${concurrency}\n` +
    line('calls/s', 'rps', 0) +
    line('process CPU µs/call', 'cpu', 1) +
    line('server backend CPU µs/call', 'pg', 1),
);
