/**
 * `npm run bench` (`-- --quick` for the under-2-minute version): keyward against the direct call,
 * the tutorial SDK server, a hand-rolled floor and a peer, interleaved over rounds, plus the
 * scenarios of the benchmark design (§5.2). Writes bench/results/<date>.{json,md,svg}.
 * Never part of `npm test`. Options: --quick, --rounds=N, --only=a,b, --scenarios=a,b|none,
 * --warmup-c16=N (warm-up calls at c=16 before the measured phases; 3000 measures the JIT's steady state).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';
import { makeWorkspace } from './lib/keyward.js';
import { aggregate, runMainRounds, type MainSettings } from './lib/main-rounds.js';
import { benchDir, freePort, killAllChildren, spawnTracked, waitPort } from './lib/proc.js';
import { mainTargets } from './lib/target-list.js';
import { acceptance, renderMarkdown } from './lib/report.js';
import { renderSvg } from './lib/chart.js';
import { runScenarios } from './scenarios/index.js';

const argv = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? '1'] as const;
  }),
);
const quick = argv.has('quick');
const log = (s: string): void => void process.stderr.write(s + '\n');

const settings: MainSettings = quick
  ? {
      rounds: Number(argv.get('rounds') ?? 2),
      warmup: 100,
      warmupConc: 100,
      seq: 200,
      conc: 400,
      foreignMax: 10,
    }
  : {
      rounds: Number(argv.get('rounds') ?? 5),
      warmup: 200,
      warmupConc: 200,
      seq: 600,
      conc: 1200,
      foreignMax: 10,
    };
if (argv.has('warmup-c16')) settings.warmupConc = Number(argv.get('warmup-c16'));

process.on('exit', killAllChildren);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const watchdog = setTimeout(
  () => {
    log('bench: global watchdog fired');
    process.exit(3);
  },
  (quick ? 5 : 20) * 60_000,
);
watchdog.unref();

async function main(): Promise<void> {
  const started = Date.now();
  let sha = 'unknown';
  try {
    sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const meta = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    gitSha: sha,
    loadavgStart: os.loadavg(),
    loadavgEnd: [] as number[],
    durationS: 0,
    settings,
  };
  log(`bench ${meta.mode}: node ${meta.node}, ${meta.cpus} vCPU ${meta.cpuModel}, git ${sha}`);

  const upPort = await freePort();
  const upstreamProc = spawnTracked(process.execPath, [path.join(benchDir, 'servers/upstream.mjs')], {
    env: { UPSTREAM_PORT: String(upPort) },
  });
  await waitPort(upPort, 10_000, upstreamProc);
  const upstream = `http://127.0.0.1:${upPort}`;
  const ws = makeWorkspace({ upstream });
  const ctx = { upstream, configPath: ws.configPath };

  const only = argv.get('only')?.split(',');
  const targets = mainTargets(quick).filter((t) => !only || only.includes(t.name));
  const raw = targets.length ? await runMainRounds(targets, ctx, upstreamProc.pid, settings) : [];
  const agg = aggregate(targets, raw);

  const which = argv.get('scenarios');
  const scenarios =
    which === 'none'
      ? {}
      : await runScenarios({ quick, upstream, upPid: upstreamProc.pid, only: which?.split(',') });

  const stats = (await (await fetch(`${upstream}/__stats`)).json()) as Record<string, number>;
  await upstreamProc.kill();
  meta.loadavgEnd = os.loadavg();
  meta.durationS = Math.round((Date.now() - started) / 1000);
  const result = { meta, upstreamStats: stats, main: { targets, agg, raw }, scenarios };

  const dir = path.join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = (argv.get('out') ?? meta.date.slice(0, 10)) + (quick ? '-quick' : '');
  const withAcceptance = { ...result, acceptance: acceptance(result) };
  writeFileSync(path.join(dir, `${stamp}.json`), JSON.stringify(withAcceptance, null, 1) + '\n');
  writeFileSync(path.join(dir, `${stamp}.md`), renderMarkdown(result));
  writeFileSync(path.join(dir, `${stamp}.svg`), renderSvg(agg, meta));
  log(`wrote bench/results/${stamp}.{json,md,svg} in ${meta.durationS} s`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(String((e as Error)?.stack ?? e));
    process.exit(1);
  },
);
