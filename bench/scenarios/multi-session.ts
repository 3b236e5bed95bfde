/** S4: 64 independent sessions, 2 calls in flight each, every response checked against its request. */
import type { CallOutcome } from '../lib/drivers.js';
import { summarize } from '../lib/stats.js';
import { SPEC, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function multiSessionScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const sessions = 64;
  const perSession = ctx.quick ? 10 : 40;
  const inFlight = 2;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.keywardHttp, SPEC.keywardSse, SPEC.tutorialHttp]) {
    await withTarget(await start(ctx, spec), async (t) => {
      const list = [];
      for (let i = 0; i < sessions; i++) list.push(await t.newSession!());
      const tool = list[0]!.tool(/^get[-_]item$/);
      const lat: number[] = [];
      const counts: Record<CallOutcome | 'exception', number> = {
        ok: 0,
        wrong: 0,
        'tool-error': 0,
        'protocol-error': 0,
        exception: 0,
      };
      const t0 = performance.now();
      await Promise.all(
        list.flatMap((s, i) =>
          Array.from({ length: inFlight }, async (_, lane) => {
            for (let k = lane; k < perSession; k += inFlight) {
              const s0 = performance.now();
              try {
                counts[await s.callItem(tool, `s${i}-${k}`)]++;
              } catch {
                counts.exception++;
              }
              lat.push(performance.now() - s0);
            }
          }),
        ),
      );
      const sum = summarize(lat, performance.now() - t0);
      const errors = counts['tool-error'] + counts['protocol-error'] + counts.exception;
      rows.push([
        spec.name,
        sessions,
        sum.n,
        fmt(sum.callsPerSec, 0),
        fmt(sum.p50),
        fmt(sum.p99),
        counts.wrong,
        errors,
      ]);
      data.push({ target: spec.name, sessions, inFlight, ...sum, counts });
      log(`  multi-session ${spec.name}: ${sum.n} calls, wrong ${counts.wrong}, errors ${errors}`);
    });
  }
  return {
    title: `S4 multi-session correctness (${sessions} sessions × ${inFlight} in flight, unique ids per session)`,
    headers: [
      'target',
      'sessions',
      'calls',
      'calls/s',
      'p50 ms',
      'p99 ms',
      'wrong results (incl. cross-session)',
      'errors',
    ],
    rows,
    notes: [
      'Every response is checked: the item id in the answer must be the one this session asked for (ids are unique per session, so a cross-session delivery shows as a wrong result or a timeout error).',
    ],
    data,
  };
}
