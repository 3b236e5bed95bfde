/**
 * How the sequential p50 of a fresh server process falls as it warms up (issue 18): p50 of each
 * window of `window` sequential calls from the first call on, per target, fresh processes started
 * side by side. The main benchmark measures S1 after 2 × `warmup` calls, so its added p50 is taken
 * on this curve.
 *
 *   node --import tsx bench/micro/warmup-curve.ts [windows=10] [window=200] [extra node flags for keyward]
 */
import { closedLoop } from '../lib/load.js';
import { startBenchUpstream } from '../lib/keyward.js';
import { killAllChildren } from '../lib/proc.js';
import { startTarget, type Running, type TargetSpec } from '../lib/targets.js';

const windows = Number(process.argv[2] ?? 10);
const windowSize = Number(process.argv[3] ?? 200);
process.on('exit', killAllChildren);

const { up, ctx } = await startBenchUpstream();
const specs: TargetSpec[] = [
  { name: 'direct-undici', family: 'direct', transport: 'none', desc: 'direct' },
  { name: 'handrolled-stdio', family: 'handrolled', transport: 'stdio', desc: 'hand-rolled' },
  { name: 'tutorial-stdio', family: 'tutorial', transport: 'stdio', desc: 'tutorial' },
  { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', desc: 'this build' },
];
const targets: Running[] = [];
for (const spec of specs) targets.push(await startTarget(spec, ctx));
const curves = new Map<string, number[]>(specs.map((s) => [s.name, []]));
for (let w = 0; w < windows; w++) {
  for (const t of targets) {
    const res = await closedLoop((k) => t.call(k), windowSize, 1, w * windowSize);
    curves.get(t.spec.name)!.push(res.p50);
  }
}
console.log(`sequential p50 ms per window of ${windowSize} calls, fresh processes`);
console.log(
  `| target | ${Array.from({ length: windows }, (_, i) => `${(i + 1) * windowSize}`).join(' | ')} |`,
);
for (const [name, values] of curves)
  console.log(`| ${name} | ${values.map((v) => v.toFixed(3)).join(' | ')} |`);
for (const t of targets) await t.close();
await up.kill();
killAllChildren();
