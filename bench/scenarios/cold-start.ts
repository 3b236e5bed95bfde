/** S10: cold start, spawn → initialize → first tool result. */
import { BIN_JS } from '../lib/keyward.js';
import { median } from '../lib/stats.js';
import { startTarget } from '../lib/targets.js';
import { SPEC, configFor } from './helpers.js';
import { fmt, log, type ScenarioContext, type ScenarioResult } from './scenario.js';

export async function coldStartScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const reps = ctx.quick ? 1 : 3;
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const spec of [
    SPEC.handrolledStdio,
    SPEC.tutorialStdio,
    SPEC.peerStdio,
    { ...SPEC.keywardStdio, main: BIN_JS },
    { ...SPEC.keywardHttp, main: BIN_JS },
  ]) {
    const connect: number[] = [];
    const first: number[] = [];
    for (let i = 0; i < reps; i++) {
      const configPath = configFor(ctx);
      const t0 = performance.now();
      const t = await startTarget(spec, { upstream: ctx.upstream, configPath });
      try {
        const connected = performance.now();
        const o = await t.call(1);
        if (o !== 'ok') throw new Error(`first call: ${o}`);
        connect.push(connected - t0);
        first.push(performance.now() - t0);
      } finally {
        await t.close();
      }
    }
    rows.push([spec.name, fmt(median(connect), 0), fmt(median(first), 0)]);
    data.push({ target: spec.name, connect, first });
    log(`  cold start ${spec.name}: first result ${fmt(median(first), 0)} ms`);
  }
  return {
    title: `S10 cold start (median of ${reps})`,
    headers: ['target', 'spawn → initialized + tools/list ms', 'spawn → first result ms'],
    rows,
    notes: [
      'The config file, key and encrypted store exist beforehand; the time runs from spawn to the first checked tool result (the event-loop probe is preloaded in every target alike).',
    ],
    data,
  };
}
