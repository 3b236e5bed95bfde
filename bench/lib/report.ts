/** The Markdown summary of one run: machine, headline acceptance ratios, main table, scenarios. */
import type { ScenarioResult } from '../scenarios/scenario.js';
import { fmt } from '../scenarios/scenario.js';
import { pairRatios, type Aggregate, type MainSettings, type RoundResult } from './main-rounds.js';

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
  main: { agg: Aggregate[]; raw: RoundResult[] };
  scenarios: Record<string, ScenarioResult | { failed: string }>;
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '/')).join(' | ')} |`),
  ];
}

/** The acceptance pairs: keyward (all on) against the tutorial on the same transport, same rounds. */
export const PAIRS = [
  ['keyward-stdio', 'tutorial-stdio'],
  ['keyward-http', 'tutorial-http-json'],
  ['keyward-http', 'tutorial-http-sse'],
  ['keyward-sse', 'tutorial-http-sse'],
] as const;

export function headline(agg: readonly Aggregate[], raw: readonly RoundResult[]): string[][] {
  const pick = (n: string) => agg.find((a) => a.target === n);
  const rows: string[][] = [];
  for (const [name, base] of PAIRS) {
    const k = pick(name);
    const t = pick(base);
    if (!k || !t) continue;
    const p = pairRatios(raw, name, base);
    rows.push([
      `${name} vs ${base}`,
      fmt(k.serverCpu),
      fmt(t.serverCpu),
      `**${fmt(p.cpu, 2)}×** ${p.cpu <= 1 ? '(≤ 1.0: met)' : '(> 1.0: not met)'}`,
      fmt(k.addedP50),
      fmt(t.addedP50),
      `${fmt(p.added)} ${p.added <= 0.1 ? '(≤ +0.1: met)' : '(> +0.1: not met)'}`,
    ]);
  }
  return rows;
}

export interface Criterion {
  criterion: string;
  value: string;
  met: boolean | undefined;
}

/** The acceptance criteria, evaluated from this run's data. */
export function acceptance(r: RunResult): Criterion[] {
  const out: Criterion[] = [];
  for (const [a, b] of PAIRS) {
    if (!r.main.agg.some((x) => x.target === a) || !r.main.agg.some((x) => x.target === b)) continue;
    const p = pairRatios(r.main.raw, a, b);
    out.push({ criterion: `CPU per call ${a} ÷ ${b} ≤ 1.0`, value: `${fmt(p.cpu, 2)}×`, met: p.cpu <= 1 });
    out.push({
      criterion: `added p50 ${a} ≤ ${b} + 0.1 ms`,
      value: `${fmt(p.added)} ms`,
      met: p.added <= 0.1,
    });
  }
  const sc = (name: string): ScenarioResult | undefined => {
    const x = r.scenarios[name];
    return x && !('failed' in x) ? x : undefined;
  };
  const multi = sc('multi-session')?.data as { target: string; counts: Record<string, number> }[] | undefined;
  for (const m of multi ?? []) {
    if (!m.target.startsWith('keyward')) continue;
    const bad = Object.entries(m.counts).reduce((n, [k, v]) => (k === 'ok' ? n : n + v), 0);
    out.push({
      criterion: `64 sessions on ${m.target}: 0 wrong, 0 errors`,
      value: `${m.counts.wrong ?? 0} wrong, ${bad - (m.counts.wrong ?? 0)} errors`,
      met: bad === 0,
    });
  }
  const cred = sc('credentials')?.data as
    { latency?: number; coldReads?: number[]; steady?: { p99: number } }[] | undefined;
  const cold = (cred ?? []).filter((c) => c.coldReads);
  if (cold.length) {
    out.push({
      criterion: 'cold cache at c64: exactly one backend read per key',
      value: cold.map((c) => `+${c.latency} ms: ${c.coldReads!.join('/')}`).join('; '),
      met: cold.every((c) => c.coldReads!.every((n) => n === 1)),
    });
    const p0 = cold.find((c) => c.latency === 0)?.steady?.p99;
    const p50 = cold.find((c) => c.latency === 50)?.steady?.p99;
    if (p0 !== undefined && p50 !== undefined) {
      out.push({
        criterion: 'steady-state p99 with a 50 ms backend ≈ with a 0 ms backend',
        value: `${fmt(p50)} vs ${fmt(p0)} ms`,
        met: undefined,
      });
    }
  }
  const auditData = sc('audit-sinks')?.data as { medianRatio: number } | undefined;
  if (auditData) {
    out.push({
      criterion: 'PostgreSQL group commit at c64 within 15% of SQLite throughput',
      value: `${fmt(auditData.medianRatio, 2)}×`,
      met: auditData.medianRatio >= 0.85,
    });
  }
  const hist = sc('history')?.data as { total: number; perWindow: number[] } | undefined;
  if (hist && hist.perWindow.length > 1) {
    const f = hist.perWindow[0]!;
    const l = hist.perWindow[hist.perWindow.length - 1]!;
    out.push({
      criterion: `flat cost: CPU of the last 1,000 of ${hist.total} calls ≈ the first 1,000`,
      value: `${fmt(f)} → ${fmt(l)} ms/call (${fmt(l / f, 2)}×)`,
      met: l / f <= 1.15,
    });
  }
  return out;
}

export function renderMarkdown(r: RunResult): string {
  const m = r.meta;
  const s = m.settings;
  const L: string[] = [];
  L.push(`# keyward benchmark, ${m.date} (${m.mode})`, '');
  L.push(
    `Machine: ${m.cpus} vCPU ${m.cpuModel}, ${m.memGiB} GiB, node ${m.node}, git ${m.gitSha}. Load average ${m.loadavgStart.map((x) => x.toFixed(2)).join('/')} at start, ${m.loadavgEnd.map((x) => x.toFixed(2)).join('/')} at end; ${m.durationS} s.`,
    `Main rounds: ${s.rounds} interleaved rounds (order rotated), warmup ${s.warmup} sequential + ${s.warmupConc} at c=16, sequential N=${s.seq}, closed loop N=${s.conc} at c=16 and at c=64, one session. Values are the median of clean rounds (foreign CPU < ${s.foreignMax}% of the machine in every phase) when at least 2 exist, else of all rounds.`,
    `Reproduce: \`npm run bench\` (full) or \`npm run bench -- --quick\`.`,
    '',
  );
  L.push('## Acceptance criteria (issue 3), from this run', '');
  L.push(
    ...table(
      ['criterion', 'value', 'met'],
      acceptance(r).map((c) => [
        c.criterion,
        c.value,
        c.met === undefined ? 'see S6' : c.met ? 'yes' : '**no**',
      ]),
    ),
    '',
  );
  L.push('## keyward (all steps on, cache hit, small body) vs the tutorial SDK server, same rounds', '');
  L.push(
    ...table(
      [
        'pair',
        'keyward CPU ms/call',
        'tutorial CPU ms/call',
        'CPU ratio (median of per-round ratios)',
        'keyward added p50 ms',
        'tutorial added p50 ms',
        'added p50 − tutorial ms (median per round)',
      ],
      headline(r.main.agg, r.main.raw),
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
