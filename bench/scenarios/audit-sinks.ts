/**
 * S8: audit sinks at c64: SQLite (WAL) vs PostgreSQL with group commit, interleaved rounds.
 *
 * KEYWARD_BENCH_S8_ROUNDS, KEYWARD_BENCH_S8_CALLS and KEYWARD_BENCH_S8_CONCURRENCY change the rounds
 * (4), the measured calls per round (3,000) and the calls in flight (64, the goal's c64); with KEYWARD_BENCH_BASELINE_MAIN set, a third sink runs the baseline build's
 * PostgreSQL sink in the same rounds (an A/B of the sink).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { closedLoop } from '../lib/load.js';
import { median } from '../lib/stats.js';
import type { TargetSpec } from '../lib/targets.js';
import { SPEC, measured, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export async function auditSinksScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rounds = ctx.quick ? 1 : positive(process.env.KEYWARD_BENCH_S8_ROUNDS, 4);
  const n = ctx.quick ? 600 : positive(process.env.KEYWARD_BENCH_S8_CALLS, 3000);
  const concurrency = positive(process.env.KEYWARD_BENCH_S8_CONCURRENCY, 64);
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const baseline = process.env.KEYWARD_BENCH_BASELINE_MAIN;
  const sinks = ['sqlite', 'postgres', ...(baseline ? ['postgres@baseline'] : [])];
  const results: Record<string, { rps: number[]; cpu: number[]; p99: number[]; bad: number }> = {};
  const ratios: Record<string, number[]> = {};
  for (const sink of sinks) {
    results[sink] = { rps: [], cpu: [], p99: [], bad: 0 };
    ratios[sink] = [];
  }
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...sinks].reverse() : sinks;
      const perRound: Record<string, number> = {};
      for (const sink of order) {
        const audit = sink === 'sqlite' ? undefined : { type: 'postgres', url: PG_URL, schema };
        const spec: TargetSpec =
          sink === 'postgres@baseline' && baseline
            ? { ...SPEC.keywardStdio, main: baseline }
            : SPEC.keywardStdio;
        await withTarget(
          await start(ctx, spec, { upstream: ctx.upstream, ...(audit ? { audit } : {}) }),
          async (t) => {
            const call = (k: number) => t.call(k);
            await closedLoop(call, 300, concurrency);
            const m = await measured(t, ctx.upPid, () => closedLoop(call, n, concurrency));
            const acc = results[sink]!;
            acc.rps.push(m.callsPerSec);
            acc.cpu.push(m.cpuPerCall);
            acc.p99.push(m.p99);
            acc.bad += m.errors + m.wrong;
            perRound[sink] = m.callsPerSec;
            log(`  audit ${sink} round ${r}: ${fmt(m.callsPerSec, 0)}/s cpu ${fmt(m.cpuPerCall)}`);
          },
        );
      }
      for (const sink of sinks) ratios[sink]?.push((perRound[sink] ?? NaN) / (perRound.sqlite ?? NaN));
    }
  } finally {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const tx = await client
      .query<{ rows: string; tx: string }>(
        `SELECT count(*)::text AS rows, count(DISTINCT xmin::text)::text AS tx FROM ${schema}.audit_events`,
      )
      .catch(() => undefined);
    if (tx?.rows[0]) log(`  postgres: ${tx.rows[0].rows} rows in ${tx.rows[0].tx} commits`);
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
  const rows = Object.entries(results).map(([sink, a]) => [
    sink,
    fmt(median(a.rps), 0),
    fmt(median(a.p99)),
    fmt(median(a.cpu)),
    `${fmt(median(ratios[sink] ?? []), 2)}×`,
    a.bad,
  ]);
  return {
    title: `S8 audit sinks, keyward stdio at c${concurrency} (${rounds} interleaved rounds, N=${n})`,
    headers: [
      'sink',
      'calls/s',
      'p99 ms',
      'server CPU ms/call',
      'throughput ÷ SQLite (median per round)',
      'errors',
    ],
    rows,
    notes: [`PostgreSQL: ${PG_URL}, schema ${schema} (dropped afterwards), group commit.`],
    data: { results, ratios, medianRatio: median(ratios.postgres ?? []) },
  };
}

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}
