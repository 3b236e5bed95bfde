/**
 * S10 cold start as a paired A/B: spawn → initialize → first checked result on stdio, for the
 * tutorial server, this build's keyward as published (the bundle, dist/bin/keyward.js), the same
 * build unbundled (tsc's dist/src/main.js) and (optionally) a baseline build's keyward, interleaved
 * spawn by spawn in rotated order so that all see the same machine load. Reports the median wall
 * time and the median CPU time (user + system of the server process, /proc/<pid>/stat, read right
 * after the first result), and the medians of the per-round ratios keyward ÷ tutorial.
 *
 *   node --import tsx bench/micro/cold-start-ab.ts [rounds=15] [<baseline>/dist/src/main.js ...]
 *   Each further path is one more build in the rotation (@baseline, @baseline2, …): variants of
 *   a change side by side in the same rounds.
 *   KEYWARD_BENCH_NODE=<node binary>: spawn the servers with another Node (e.g. Node 24).
 */
import { BIN_JS, MAIN_JS, makeWorkspace } from '../lib/keyward.js';
import { cpuMs, freePort, killAllChildren, spawnTracked, waitPort } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { startTarget, type TargetSpec } from '../lib/targets.js';

const rounds = Number(process.argv[2] ?? 15);
const baselines = process.argv.slice(3);
process.on('exit', killAllChildren);

const specs: TargetSpec[] = [
  { name: 'tutorial-stdio', family: 'tutorial', transport: 'stdio', desc: 'tutorial' },
  { name: 'keyward-stdio', family: 'keyward', transport: 'stdio', main: BIN_JS, desc: 'this build (bundle)' },
  {
    name: 'keyward-stdio@tsc',
    family: 'keyward',
    transport: 'stdio',
    main: MAIN_JS,
    desc: 'this build, unbundled',
  },
  ...baselines.map(
    (main, i) =>
      ({
        name: `keyward-stdio@baseline${i === 0 ? '' : i + 1}`,
        family: 'keyward',
        transport: 'stdio',
        main,
        desc: `baseline build ${main}`,
      }) satisfies TargetSpec,
  ),
];

async function main(): Promise<void> {
  const upPort = await freePort();
  const up = spawnTracked(process.execPath, ['bench/servers/upstream.mjs'], {
    env: { UPSTREAM_PORT: String(upPort) },
  });
  await waitPort(upPort, 10_000, up);
  const upstream = `http://127.0.0.1:${upPort}`;
  const { configPath } = makeWorkspace({ upstream });
  const wall = new Map<string, number[]>(specs.map((s) => [s.name, []]));
  const cpu = new Map<string, number[]>(specs.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = specs.map((_, i) => specs[(i + r) % specs.length]!);
    for (const spec of order) {
      const t0 = performance.now();
      const t = await startTarget(spec, { upstream, configPath });
      try {
        const o = await t.call(1);
        if (o !== 'ok') throw new Error(`${spec.name} first call: ${o}`);
        wall.get(spec.name)!.push(performance.now() - t0);
        cpu.get(spec.name)!.push(cpuMs(t.pids[0]));
      } finally {
        await t.close();
      }
    }
  }
  const tut = 'tutorial-stdio';
  const ratio = (m: Map<string, number[]>, name: string): number =>
    median(m.get(name)!.map((v, i) => v / m.get(tut)![i]!));
  process.stdout.write(`node ${process.env.KEYWARD_BENCH_NODE ?? process.version}, ${rounds} rounds\n`);
  process.stdout.write('target | wall ms (median) | CPU ms (median) | wall ÷ tutorial | CPU ÷ tutorial\n');
  for (const s of specs) {
    process.stdout.write(
      `${s.name} | ${median(wall.get(s.name)!).toFixed(0)} | ${median(cpu.get(s.name)!).toFixed(0)} | ` +
        `${ratio(wall, s.name).toFixed(2)} | ${ratio(cpu, s.name).toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `raw ${JSON.stringify({ wall: Object.fromEntries(wall), cpu: Object.fromEntries(cpu) })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${String((e as Error)?.stack ?? e)}\n`);
    process.exit(1);
  },
);
