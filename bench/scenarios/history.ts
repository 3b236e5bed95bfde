/**
 * Flat cost with history: 100,000 calls (5,000 in quick mode) into one keyward process, one audit
 * file, one credential cache window; CPU per call of the first and the last 1,000 calls.
 */
import { closedLoop } from '../lib/load.js';
import { cpuMs } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { SPEC, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function historyScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const total = ctx.quick ? 5_000 : 100_000;
  const window = 1000;
  return withTarget(await start(ctx, SPEC.keywardStdio), async (t) => {
    const pid = t.pids[0]!;
    const perWindow: number[] = [];
    let bad = 0;
    // Warm up first (JIT, pools): the question is growth with history, not startup cost.
    const warmup = 3000;
    await closedLoop((k) => t.call(k), warmup, 16, 10_000_000);
    for (let done = 0; done < total; done += window) {
      const a = cpuMs(pid);
      const r = await closedLoop((k) => t.call(k), window, 16, done);
      perWindow.push((cpuMs(pid) - a) / r.n);
      bad += r.errors + r.wrong;
      if (done % 20_000 === 0)
        log(`  history: ${done + window} calls, ${fmt(perWindow[perWindow.length - 1])} ms/call`);
    }
    const first = perWindow[0]!;
    const last = perWindow[perWindow.length - 1]!;
    const first10 = median(perWindow.slice(0, 10));
    const last10 = median(perWindow.slice(-10));
    return {
      title: `Flat cost with history (${total.toLocaleString('en')} calls, keyward stdio, c=16, one SQLite audit file)`,
      headers: ['measure', 'first', 'last', 'last ÷ first'],
      rows: [
        ['server CPU ms/call, 1,000-call window', fmt(first), fmt(last), fmt(last / first, 2)],
        ['median of the first / last 10 windows', fmt(first10), fmt(last10), fmt(last10 / first10, 2)],
        ['errors', bad, '', ''],
      ],
      notes: [
        '/proc CPU has 10 ms resolution: a 1,000-call window at ~0.5 ms/call is measured to about ±2%; the 10-window medians are the steadier comparison.',
      ],
      data: { total, window, warmup, perWindow },
    };
  });
}
