/** S3: open loop at fixed rates; latency from the scheduled send time (honest p99). */
import { closedLoop, openLoop } from '../lib/load.js';
import { SPEC, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function openLoopScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rates = ctx.quick ? [100, 400] : [100, 300, 1000];
  const ms = ctx.quick ? 1500 : 4000;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.direct, SPEC.tutorialStdio, SPEC.keywardStdio, SPEC.keywardHttp]) {
    await withTarget(await start(ctx, spec), async (t) => {
      await closedLoop((k) => t.call(k), 200, 4);
      for (const rate of rates) {
        const r = await openLoop((k) => t.call(k), rate, ms);
        rows.push([
          spec.name,
          rate,
          fmt(r.callsPerSec, 0),
          fmt(r.p50),
          fmt(r.p99),
          fmt(r.p99 / r.p50, 1),
          r.errors + r.wrong,
        ]);
        data.push({ target: spec.name, rate, ...r });
        log(`  open loop ${spec.name} @${rate}/s p50 ${fmt(r.p50)} p99 ${fmt(r.p99)}`);
      }
    });
  }
  return {
    title: `S3 open loop (fixed rate, ${ms} ms per rate, latency from the scheduled send time)`,
    headers: ['target', 'offered calls/s', 'achieved calls/s', 'p50 ms', 'p99 ms', 'p99 ÷ p50', 'errors'],
    rows,
    data,
  };
}
