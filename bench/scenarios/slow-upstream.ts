/** S9: a slow upstream (+50 ms) at c64: overhead must stay additive, no head-of-line blocking. */
import { closedLoop } from '../lib/load.js';
import { SPEC, measured, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function slowUpstreamScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 640 : 2560;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.tutorialStdio, SPEC.keywardStdio, SPEC.keywardHttp]) {
    await withTarget(await start(ctx, spec), async (t) => {
      const call = (k: number) => t.call(k, undefined, 'get_item_slow');
      await closedLoop(call, 128, 64);
      const r = await measured(t, ctx.upPid, () => closedLoop(call, n, 64));
      rows.push([
        spec.name,
        fmt(r.callsPerSec, 0),
        fmt(r.p50),
        fmt(r.p99),
        fmt(r.p50 - 50),
        fmt(r.cpuPerCall),
        r.errors + r.wrong,
      ]);
      data.push({ target: spec.name, ...r });
      log(`  slow upstream ${spec.name}: ${fmt(r.callsPerSec, 0)}/s p50 ${fmt(r.p50)}`);
    });
  }
  return {
    title: 'S9 slow upstream (+50 ms) at c=64',
    headers: [
      'target',
      'calls/s (ideal 1280)',
      'p50 ms',
      'p99 ms',
      'p50 − 50 ms',
      'server CPU ms/call',
      'errors',
    ],
    rows,
    data,
  };
}
