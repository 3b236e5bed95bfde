/** S7: fast-fail paths (invalid arguments, policy deny) must cost less than a successful call. */
import { closedLoop } from '../lib/load.js';
import { SPEC, measured, start, withTarget } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function fastFailScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 300 : 2000;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [SPEC.tutorialStdio, SPEC.keywardStdio]) {
    await withTarget(await start(ctx, spec), async (t) => {
      const s = t.session!;
      const item = s.tool(/^get_item$/);
      const paths: [string, (k: number) => Promise<string>, string][] = [
        ['success', (k) => s.callItem(item, String(k)), 'ok'],
        [
          'invalid arguments',
          () => s.callRaw(item, { nope: 1 }),
          spec.family === 'keyward' ? 'tool-error' : 'any',
        ],
      ];
      if (spec.family === 'keyward')
        paths.push(['policy deny', (k) => s.callRaw('admin_item', { id: String(k) }), 'tool-error']);
      for (const [label, fn, expect] of paths) {
        let unexpected = 0;
        const call = async (k: number) => {
          const o = await fn(k);
          if (expect !== 'any' && o !== expect) unexpected++;
          return 'ok' as const;
        };
        await closedLoop(call, 200, 16);
        unexpected = 0;
        const r = await measured(t, ctx.upPid, () => closedLoop(call, n, 16));
        rows.push([spec.name, label, fmt(r.callsPerSec, 0), fmt(r.p50), fmt(r.cpuPerCall), unexpected]);
        data.push({ target: spec.name, path: label, ...r, unexpected });
        log(`  fast-fail ${spec.name} ${label}: cpu ${fmt(r.cpuPerCall)}`);
      }
    });
  }
  return {
    title: 'S7 fast-fail paths (c=16)',
    headers: ['target', 'path', 'calls/s', 'p50 ms', 'server CPU ms/call', 'unexpected outcomes'],
    rows,
    notes: [
      'keyward answers invalid arguments and denials with a structured error (isError) and records them in the audit trail; no upstream call is made.',
    ],
    data,
  };
}
