/**
 * Where a server's CPU goes in the bench's measured window, per thread (issue 18): each target is
 * started fresh, driven exactly like `npm run bench` drives it (200 sequential warm-up calls, 600
 * sequential calls, `warmup` calls at c16), and then its CPU over the next 1,200 calls at c16 (the
 * phase `npm run bench` reports) is split between the main thread, where JavaScript runs, and
 * V8's background threads (concurrent TurboFan compilation, concurrent GC), read from
 * /proc/<pid>/task/<tid>/stat. With a large `warmup` the window shows the settled cost instead.
 *
 *   node --import tsx bench/micro/threads-cpu.ts [rounds=3] [targets=keyward-stdio,tutorial-stdio] [warmup=200]
 *
 * Targets are stdio ones of `bench/lib/target-list.ts` (keyward-stdio, tutorial-stdio,
 * handrolled-stdio). Run it with the Node.js whose JIT you want to see: every server is started
 * with the same `process.execPath` as this script.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { closedLoop } from '../lib/load.js';
import { startBenchUpstream } from '../lib/keyward.js';
import { killAllChildren } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { startTarget, type Family, type TargetSpec } from '../lib/targets.js';

const rounds = Number(process.argv[2] ?? 3);
const names = (process.argv[3] ?? 'keyward-stdio,tutorial-stdio').split(',');
const FAMILIES: readonly Family[] = ['tutorial', 'handrolled', 'keyward'];
for (const name of names) {
  const family = name.split('-')[0] as Family;
  if (!FAMILIES.includes(family) || !name.endsWith('-stdio'))
    throw new Error(`${name}: only keyward-stdio, tutorial-stdio and handrolled-stdio are supported`);
}
const warmupConc = Number(process.argv[4] ?? 200);
const CALLS = 1200;
process.on('exit', killAllChildren);

/** CPU ms per thread of `pid`: the main thread as `main`, the others summed as `background`. */
function threadCpu(pid: number): { main: number; background: number } {
  const out = { main: 0, background: 0 };
  const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
    if (tid === String(pid)) out.main += ms;
    else out.background += ms;
  }
  return out;
}

const { up, ctx } = await startBenchUpstream();
const perCall = new Map<string, { main: number[]; background: number[] }>(
  names.map((n) => [n, { main: [], background: [] }]),
);
for (let r = 0; r < rounds; r++) {
  for (const name of names) {
    const spec: TargetSpec = { name, family: name.split('-')[0] as Family, transport: 'stdio', desc: name };
    const t = await startTarget(spec, ctx);
    await closedLoop((k) => t.call(k), 200, 1);
    await closedLoop((k) => t.call(k), 600, 1);
    await closedLoop((k) => t.call(k), warmupConc, 16);
    const before = threadCpu(t.pids[0]!);
    const res = await closedLoop((k) => t.call(k), CALLS, 16);
    const after = threadCpu(t.pids[0]!);
    if (res.errors + res.wrong > 0) throw new Error(`${name}: ${res.firstError}`);
    const row = perCall.get(name)!;
    row.main.push((after.main - before.main) / res.n);
    row.background.push((after.background - before.background) / res.n);
    await t.close();
  }
}
console.log(
  `node ${process.version}, ${rounds} rounds, ${warmupConc} warm-up calls at c16, CPU ms per call over ${CALLS} calls at c16 (medians)`,
);
console.log('| target | main thread | V8 background threads | total |');
console.log('|---|---:|---:|---:|');
for (const [name, row] of perCall) {
  const total = row.main.map((m, i) => m + row.background[i]!);
  console.log(
    `| ${name} | ${median(row.main).toFixed(3)} | ${median(row.background).toFixed(3)} | ${median(total).toFixed(3)} |`,
  );
}
await up.kill();
killAllChildren();
