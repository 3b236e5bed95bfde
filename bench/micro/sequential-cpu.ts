/**
 * The sequential path behind the added p50 (issue 18): for each target, N calls one at a time,
 * reporting the p50 latency and the server's CPU per call in that phase, interleaved over rounds.
 * When CPU per call is well below the p50 the call waits on something (a timer, a loop turn, I/O)
 * rather than computes.
 *
 *   node --import tsx bench/micro/sequential-cpu.ts [rounds=5] [calls=1500] [baseline main.js]
 */
import { closedLoop } from '../lib/load.js';
import { startBenchUpstream } from '../lib/keyward.js';
import { cpuMs, killAllChildren } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { startTarget, type Running, type TargetSpec } from '../lib/targets.js';

const rounds = Number(process.argv[2] ?? 5);
const calls = Number(process.argv[3] ?? 1500);
const baseline = process.argv[4];
process.on('exit', killAllChildren);

const { up, ctx } = await startBenchUpstream();
const specs: TargetSpec[] = [
  { name: 'direct-undici', family: 'direct', transport: 'none', desc: 'direct' },
  { name: 'handrolled-stdio', family: 'handrolled', transport: 'stdio', desc: 'hand-rolled' },
  { name: 'tutorial-stdio', family: 'tutorial', transport: 'stdio', desc: 'tutorial' },
  { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', desc: 'this build' },
  ...(baseline
    ? [
        {
          name: 'keyward-stdio@baseline',
          family: 'keyward',
          transport: 'stdio',
          main: baseline,
          desc: 'baseline',
        } as const,
      ]
    : []),
];
const targets: Running[] = [];
for (const spec of specs) targets.push(await startTarget(spec, ctx));
const serverCpu = (t: Running): number => t.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
for (const t of targets) await closedLoop((k) => t.call(k), 200, 1);
const p50s = new Map<string, number[]>(specs.map((s) => [s.name, []]));
const cpus = new Map<string, number[]>(specs.map((s) => [s.name, []]));
for (let r = 0; r < rounds; r++) {
  const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
  for (const t of order) {
    const before = serverCpu(t);
    const res = await closedLoop((k) => t.call(k), calls, 1, r * calls);
    if (res.errors + res.wrong > 0) throw new Error(`${t.spec.name}: ${res.firstError}`);
    p50s.get(t.spec.name)!.push(res.p50);
    cpus.get(t.spec.name)!.push((serverCpu(t) - before) / res.n);
  }
}
const direct = p50s.get('direct-undici')!;
console.log(`sequential, ${rounds} rounds × ${calls} calls (medians of rounds)`);
console.log('| target | p50 ms | added p50 ms | server CPU ms/call |');
console.log('|---|---:|---:|---:|');
for (const spec of specs) {
  const p = p50s.get(spec.name)!;
  const added = p.map((v, i) => v - direct[i]!);
  const cpu = spec.family === 'direct' ? 'n/a' : median(cpus.get(spec.name)!).toFixed(3);
  console.log(`| ${spec.name} | ${median(p).toFixed(3)} | ${median(added).toFixed(3)} | ${cpu} |`);
}
for (const t of targets) await t.close();
await up.kill();
killAllChildren();
