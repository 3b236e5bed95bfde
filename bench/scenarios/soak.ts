/** S11 (short): keyward under steady c16 load: RSS and event-loop delay over time. */
import { closedLoop } from '../lib/load.js';
import { rssBytes } from '../lib/proc.js';
import { SPEC, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function soakScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const seconds = ctx.quick ? 6 : 45;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.keywardStdio, SPEC.keywardHttp]) {
    await withTarget(await start(ctx, spec), async (t) => {
      const pid = t.pids[0]!;
      const samples: { s: number; rss: number }[] = [];
      const end = Date.now() + seconds * 1000;
      let calls = 0;
      let bad = 0;
      // Samples reported before the load (and the one-second window in progress when it starts)
      // cover module loading and startup, which block the loop: they are not steady state.
      const eldBefore = t.proc?.eld.length ?? 0;
      const sampler = setInterval(() => samples.push({ s: samples.length + 1, rss: rssBytes(pid) }), 1000);
      try {
        while (Date.now() < end) {
          const r = await closedLoop((k) => t.call(k), 500, 16, calls);
          calls += r.n;
          bad += r.errors + r.wrong;
        }
      } finally {
        clearInterval(sampler);
      }
      const eld = (t.proc?.eld ?? []).slice(eldBefore + 1);
      const mib = (b: number | undefined) => fmt((b ?? NaN) / 2 ** 20, 1);
      const firstRss = samples[Math.min(2, samples.length - 1)]?.rss;
      const lastRss = samples[samples.length - 1]?.rss;
      const eldP99 = Math.max(...eld.map((e) => e.p99));
      rows.push([
        spec.name,
        seconds,
        calls,
        mib(firstRss),
        mib(lastRss),
        fmt(Math.max(...eld.map((e) => e.max)), 1),
        fmt(eldP99, 1),
        bad,
      ]);
      data.push({ target: spec.name, seconds, calls, samples, eld });
      log(`  soak ${spec.name}: ${calls} calls, RSS ${mib(firstRss)} → ${mib(lastRss)} MiB`);
    });
  }
  return {
    title: 'S11 short soak (c=16, steady load)',
    headers: [
      'target',
      'seconds',
      'calls',
      'RSS at 3 s MiB',
      'RSS at end MiB',
      'event-loop delay max ms',
      'worst 1-s p99 ELD ms',
      'errors',
    ],
    rows,
    notes: [
      'Event-loop delay comes from monitorEventLoopDelay inside the server (bench/servers/eld-probe.mjs, preloaded with --import), one sample per second during the load only: the startup seconds (module loading blocks the loop for up to a few hundred ms) are left out.',
    ],
    data,
  };
}
