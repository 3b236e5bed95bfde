/**
 * S5's 200 KiB row as an interleaved A/B (issue 18): `node --import tsx bench/payload-ab.ts
 * <baseline dist/src/main.js> [rounds] [calls] [bytes] [other main.js …]` starts the tutorial on
 * stdio, keyward on stdio from this checkout, from the baseline build and from each other build
 * given (`keyward-stdio@2`, `@3`, …: e.g. a build patched to isolate one cost), all at once against one
 * upstream, and in each round runs `calls` calls (c16, body padded to `bytes`) against each in a
 * rotating order, measuring server CPU per call from /proc. Prints per-round figures and the
 * medians of CPU per call and of the per-round ratios to the tutorial.
 */
import { closedLoop } from './lib/load.js';
import { startBenchUpstream } from './lib/keyward.js';
import { cpuMs, killAllChildren } from './lib/proc.js';
import { median } from './lib/stats.js';
import { startTarget, type Running, type TargetSpec } from './lib/targets.js';

const [baseline, roundsArg, callsArg, bytesArg, ...others] = process.argv.slice(2);
if (baseline === undefined)
  throw new Error('usage: payload-ab.ts <baseline main.js> [rounds] [calls] [bytes] [other main.js …]');
const rounds = Number(roundsArg ?? 8);
const calls = Number(callsArg ?? 150);
const size = String(Number(bytesArg ?? 200 * 1024));

const { up, ctx } = await startBenchUpstream();
const specs: TargetSpec[] = [
  { name: 'tutorial-stdio', family: 'tutorial', transport: 'stdio', desc: 'tutorial stdio' },
  { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', desc: 'keyward stdio (this checkout)' },
  {
    name: 'keyward-stdio@baseline',
    family: 'keyward',
    transport: 'stdio',
    main: baseline,
    desc: `keyward stdio (${baseline})`,
  },
  ...others.map((main, i): TargetSpec => ({
    name: `keyward-stdio@${i + 2}`,
    family: 'keyward',
    transport: 'stdio',
    main,
    desc: `keyward stdio (${main})`,
  })),
];
const targets: Running[] = [];
for (const spec of specs) targets.push(await startTarget(spec, ctx));
const cpu = new Map<string, number[]>(specs.map((s) => [s.name, []]));
const serverCpu = (t: Running): number => t.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
for (const t of targets) await closedLoop((k) => t.call(k, { size }), 100, 16);
for (let r = 0; r < rounds; r++) {
  const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
  const line: string[] = [];
  for (const t of order) {
    const a = serverCpu(t);
    const res = await closedLoop((k) => t.call(k, { size }), calls, 16, r * calls);
    if (res.errors + res.wrong > 0) throw new Error(`${t.spec.name}: ${res.firstError}`);
    const perCall = (serverCpu(t) - a) / res.n;
    cpu.get(t.spec.name)!.push(perCall);
    line.push(`${t.spec.name} ${perCall.toFixed(2)}`);
  }
  console.log(`round ${r + 1}: ${line.join(', ')} ms/call`);
}
const tutorial = cpu.get('tutorial-stdio')!;
console.log(`\n${size}-byte bodies, ${rounds} rounds × ${calls} calls, c16; server CPU ms/call (median)`);
console.log('| target | CPU ms/call | ÷ tutorial (median of rounds) |');
console.log('|---|---:|---:|');
for (const [name, values] of cpu) {
  const ratios = values.map((v, i) => v / tutorial[i]!);
  console.log(`| ${name} | ${median(values).toFixed(2)} | ${median(ratios).toFixed(2)}× |`);
}
for (const t of targets) await t.close();
await up.kill();
killAllChildren();
