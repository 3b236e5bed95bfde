/** The Markdown summary of one run: machine, headline acceptance ratios, main table, scenarios. */
import type { ScenarioResult } from '../scenarios/scenario.js';
import { fmt } from '../scenarios/scenario.js';
import type { Aggregate } from './main-rounds.js';
import type { MainSettings } from './main-rounds.js';

export interface RunResult {
  meta: {
    date: string;
    mode: string;
    node: string;
    cpus: number;
    cpuModel: string;
    memGiB: number;
    gitSha: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    durationS: number;
    settings: MainSettings;
  };
  upstreamStats: Record<string, number>;
  main: { agg: Aggregate[] };
  scenarios: Record<string, ScenarioResult | { failed: string }>;
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '/')).join(' | ')} |`),
  ];
}

export function headline(agg: readonly Aggregate[]): string[][] {
  const pick = (n: string) => agg.find((a) => a.target === n);
  const rows: string[][] = [];
  for (const [name, base] of [
    ['keyward-stdio', 'tutorial-stdio'],
    ['keyward-http', 'tutorial-http-json'],
    ['keyward-sse', 'tutorial-http-json'],
  ] as const) {
    const k = pick(name);
    const t = pick(base);
    if (!k || !t) continue;
    rows.push([
      `${name} vs ${base}`,
      fmt(k.serverCpu),
      fmt(t.serverCpu),
      `**${fmt(k.cpuRatioTutorial, 2)}×**`,
      fmt(k.addedP50),
      fmt(t.addedP50),
      `${fmt(k.addedVsTutorial)} ${k.addedVsTutorial <= 0.1 ? '(≤ +0.1: met)' : '(> +0.1: not met)'}`,
    ]);
  }
  return rows;
}

export function renderMarkdown(r: RunResult): string {
  const m = r.meta;
  const s = m.settings;
  const L: string[] = [];
  L.push(`# keyward benchmark, ${m.date} (${m.mode})`, '');
  L.push(
    `Machine: ${m.cpus} vCPU ${m.cpuModel}, ${m.memGiB} GiB, node ${m.node}, git ${m.gitSha}. Load average ${m.loadavgStart.map((x) => x.toFixed(2)).join('/')} at start, ${m.loadavgEnd.map((x) => x.toFixed(2)).join('/')} at end; ${m.durationS} s.`,
    `Main rounds: ${s.rounds} interleaved rounds (order rotated), warmup ${s.warmup}, sequential N=${s.seq}, closed loop N=${s.conc} at c=16 and at c=64, one session. Values are the median of clean rounds (foreign CPU < ${s.foreignMax}% of the machine in every phase) when at least 2 exist, else of all rounds.`,
    `Reproduce: \`npm run bench\` (full) or \`npm run bench -- --quick\`.`,
    '',
  );
  L.push(
    '## Acceptance: keyward (all steps on, cache hit, small body) vs the tutorial SDK server, same run',
    '',
  );
  L.push(
    ...table(
      [
        'pair',
        'keyward CPU ms/call',
        'tutorial CPU ms/call',
        'CPU ratio (median of per-round ratios)',
        'keyward added p50 ms',
        'tutorial added p50 ms',
        'added p50 − tutorial ms',
      ],
      headline(r.main.agg),
    ),
    '',
  );
  L.push('## Main table', '');
  L.push(
    ...table(
      [
        'target',
        'rounds',
        'seq p50 ms',
        'seq p99 ms',
        'added p50 ms',
        'c16 calls/s',
        'c16 p99 ms',
        'c64 calls/s',
        'c64 p99 ms',
        'server CPU ms/call',
        'CPU ÷ tutorial',
        'upstream CPU',
        'driver CPU',
        'RSS MiB',
        'ELD p99 ms',
        'connect ms',
        'errors',
        'wrong',
      ],
      r.main.agg.map((a) => [
        a.target,
        `${a.rounds}/${a.roundsAll}${a.cleanOnly ? ' clean' : ' all'}`,
        fmt(a.seqP50),
        fmt(a.seqP99),
        fmt(a.addedP50),
        fmt(a.c16Rps, 0),
        fmt(a.c16P99),
        fmt(a.c64Rps, 0),
        fmt(a.c64P99),
        fmt(a.serverCpu),
        fmt(a.cpuRatioTutorial, 2),
        fmt(a.upstreamCpu),
        fmt(a.driverCpu),
        fmt(a.rssMiB, 0),
        fmt(a.eldP99Ms, 2),
        fmt(a.connectMs, 0),
        a.errors,
        a.wrong,
      ]),
    ),
    '',
    "added p50 = sequential p50 minus the direct call p50 of the same round. CPU ÷ tutorial = median over rounds of this target's server CPU per call divided by the tutorial's on the same transport in the same round (stdio ↔ tutorial-stdio; HTTP/SSE ↔ tutorial-http-json; SDK driver ↔ tutorial-http-json@sdk). `-no-X` rows switch one step off with the benchmark-only KEYWARD_BENCH_DISABLE variable.",
    '',
  );
  for (const [name, sc] of Object.entries(r.scenarios)) {
    if ('failed' in sc) {
      L.push(`## ${name}: FAILED`, '', '```', sc.failed, '```', '');
      continue;
    }
    L.push(`## ${sc.title}`, '', ...table(sc.headers, sc.rows), '');
    for (const n of sc.notes ?? []) L.push(n, '');
  }
  L.push(`Upstream counters: ${JSON.stringify(r.upstreamStats)}`, '');
  return L.join('\n');
}
