/** S5: payload sweep (200 B, 20 KiB, 200 KiB responses): latency and server CPU per call. */
import { closedLoop } from '../lib/load.js';
import { SPEC, measured, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function payloadScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const sizes = [200, 20 * 1024, 200 * 1024];
  const n = ctx.quick ? 150 : 500;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.direct, SPEC.tutorialStdio, SPEC.handrolledStdio, SPEC.keywardStdio]) {
    await withTarget(await start(ctx, spec), async (t) => {
      for (const size of sizes) {
        const call = (k: number) => t.call(k, { size: String(size) });
        await closedLoop(call, 50, 4);
        const seq = await closedLoop(call, Math.round(n / 2), 1);
        const c16 = await measured(t, ctx.upPid, () => closedLoop(call, n, 16));
        rows.push([
          spec.name,
          size,
          fmt(seq.p50),
          fmt(c16.callsPerSec, 0),
          fmt(c16.cpuPerCall),
          seq.errors + c16.errors + seq.wrong + c16.wrong,
        ]);
        data.push({ target: spec.name, size, seq, c16 });
        log(`  payload ${spec.name} ${size} B: seq p50 ${fmt(seq.p50)} cpu ${fmt(c16.cpuPerCall)}`);
      }
    });
  }
  return {
    title: 'S5 payload sweep (response body size)',
    headers: ['target', 'body bytes', 'seq p50 ms', 'c16 calls/s', 'server CPU ms/call (c16)', 'errors'],
    rows,
    data,
  };
}
