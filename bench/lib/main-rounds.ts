/**
 * The interleaved main measurement (scenarios S1 sequential and S2 closed loop c16/c64): every
 * target in every round, order rotated, CPU per call from /proc, foreign CPU per phase.
 */
import { closedLoop, type PhaseResult } from './load.js';
import { delta, rssBytes, snap, type CpuDelta } from './proc.js';
import { median } from './stats.js';
import { startTarget, type TargetContext, type TargetSpec } from './targets.js';

export interface MainSettings {
  rounds: number;
  /** Sequential warm-up calls before the measured phases. */
  warmup: number;
  /** Warm-up calls at c16 after the sequential ones (the JIT's steady state, see performance.md). */
  warmupConc: number;
  seq: number;
  conc: number;
  /** Foreign CPU (% of the machine) above which a round is "noisy". */
  foreignMax: number;
}

export interface RoundResult {
  target: string;
  round: number;
  failed?: string;
  connectMs?: number;
  seq?: PhaseResult & { cpu: CpuDelta };
  c16?: PhaseResult & { cpu: CpuDelta };
  c64?: PhaseResult & { cpu: CpuDelta };
  /** Server CPU ms per call in the c16 phase (the least noisy metric). */
  serverCpuPerCall?: number;
  upstreamCpuPerCall?: number;
  driverCpuPerCall?: number;
  rssBytes?: number;
  eldP99Ms?: number;
  noisy?: boolean;
}

export interface Aggregate {
  target: string;
  family: string;
  transport: string;
  desc: string;
  rounds: number;
  roundsAll: number;
  cleanOnly: boolean;
  seqP50: number;
  seqP90: number;
  seqP99: number;
  addedP50: number;
  c16Rps: number;
  c16P50: number;
  c16P99: number;
  c64Rps: number;
  c64P99: number;
  serverCpu: number;
  upstreamCpu: number;
  driverCpu: number;
  /** Median over rounds of (server CPU / tutorial's on the same transport, same round). */
  cpuRatioTutorial: number;
  /** Median over rounds of (added p50 − tutorial's added p50, same round), ms. */
  addedVsTutorial: number;
  rssMiB: number;
  eldP99Ms: number;
  connectMs: number;
  errors: number;
  wrong: number;
}

const log = (s: string): void => void process.stderr.write(s + '\n');

async function measure(
  fn: () => Promise<PhaseResult>,
  pids: number[],
  upPid: number,
): Promise<PhaseResult & { cpu: CpuDelta }> {
  const a = snap(pids, upPid);
  const r = await fn();
  return { ...r, cpu: delta(a, snap(pids, upPid)) };
}

export async function runMainRounds(
  targets: readonly TargetSpec[],
  ctx: TargetContext,
  upPid: number,
  s: MainSettings,
): Promise<RoundResult[]> {
  const out: RoundResult[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const spec of order) {
      const res: RoundResult = { target: spec.name, round };
      const started = Date.now();
      try {
        const t = await startTarget(spec, ctx);
        try {
          const call = (k: number) => t.call(k);
          await closedLoop(call, s.warmup, 1);
          await closedLoop(call, s.warmupConc, 16);
          res.connectMs = t.connectMs;
          res.seq = await measure(() => closedLoop(call, s.seq, 1), t.pids, upPid);
          res.c16 = await measure(() => closedLoop(call, s.conc, 16), t.pids, upPid);
          res.c64 = await measure(() => closedLoop(call, s.conc, 64), t.pids, upPid);
          const n = res.c16.n;
          res.serverCpuPerCall = t.pids.length ? res.c16.cpu.serverMs / n : NaN;
          res.upstreamCpuPerCall = res.c16.cpu.upstreamMs / n;
          res.driverCpuPerCall = res.c16.cpu.driverMs / n;
          res.rssBytes = t.pids[0] === undefined ? NaN : rssBytes(t.pids[0]);
          res.eldP99Ms = median((t.proc?.eld ?? []).map((e) => e.p99));
          res.noisy =
            Math.max(res.seq.cpu.foreignPct, res.c16.cpu.foreignPct, res.c64.cpu.foreignPct) > s.foreignMax;
        } finally {
          await t.close();
        }
        const bad =
          res.seq!.errors +
          res.c16!.errors +
          res.c64!.errors +
          res.seq!.wrong +
          res.c16!.wrong +
          res.c64!.wrong;
        log(
          `round ${round} ${spec.name.padEnd(28)} seq p50 ${res.seq!.p50.toFixed(3)} | c16 ${res.c16!.callsPerSec.toFixed(0)}/s | c64 ${res.c64!.callsPerSec.toFixed(0)}/s | srv ${res.serverCpuPerCall!.toFixed(3)} ms/call | foreign ${res.c16!.cpu.foreignPct.toFixed(1)}% | bad ${bad}${bad ? ` (${res.seq!.firstError ?? res.c16!.firstError ?? res.c64!.firstError})` : ''} | ${((Date.now() - started) / 1000).toFixed(1)}s`,
        );
      } catch (e) {
        res.failed = String((e as Error)?.stack ?? e).slice(0, 600);
        log(`round ${round} ${spec.name} FAILED: ${res.failed}`);
      }
      out.push(res);
    }
  }
  return out;
}

/** Median over common rounds of a/b server CPU per call, and of a's added p50 minus b's (ms). */
export function pairRatios(
  raw: readonly RoundResult[],
  a: string,
  b: string,
): { cpu: number; added: number } {
  const cpu: number[] = [];
  const added: number[] = [];
  const at = (name: string, round: number) =>
    raw.find((r) => r.target === name && r.round === round && !r.failed);
  for (const ra of raw.filter((r) => r.target === a && !r.failed)) {
    const rb = at(b, ra.round);
    if (!rb?.serverCpuPerCall || !ra.seq || !rb.seq) continue;
    cpu.push((ra.serverCpuPerCall ?? NaN) / rb.serverCpuPerCall);
    added.push(ra.seq.p50 - rb.seq.p50);
  }
  return { cpu: median(cpu), added: median(added) };
}

/** Same-transport tutorial baseline for a target (stdio ↔ tutorial-stdio, http/sse ↔ tutorial-http-json). */
export function baselineOf(spec: TargetSpec): string | undefined {
  if (spec.family === 'direct') return undefined;
  if (spec.transport === 'stdio') return 'tutorial-stdio';
  if (spec.driver === 'sdk') return 'tutorial-http-json@sdk';
  return 'tutorial-http-json';
}

export function aggregate(targets: readonly TargetSpec[], raw: readonly RoundResult[]): Aggregate[] {
  const byRound = (name: string, round: number) =>
    raw.find((r) => r.target === name && r.round === round && !r.failed);
  return targets.map((spec) => {
    const all = raw.filter((r) => r.target === spec.name && !r.failed);
    const clean = all.filter((r) => !r.noisy);
    const rs = clean.length >= 2 ? clean : all;
    const m = (f: (r: RoundResult) => number | undefined) => median(rs.map((r) => f(r) ?? NaN));
    const added = (r: RoundResult) => {
      const floor = byRound('direct-undici', r.round);
      return r.seq && floor?.seq ? r.seq.p50 - floor.seq.p50 : NaN;
    };
    const base = baselineOf(spec);
    const ratio = (r: RoundResult) => {
      const b = base ? byRound(base, r.round) : undefined;
      return b?.serverCpuPerCall ? (r.serverCpuPerCall ?? NaN) / b.serverCpuPerCall : NaN;
    };
    const vsTut = (r: RoundResult) => {
      const b = base ? byRound(base, r.round) : undefined;
      return b ? added(r) - added(b) : NaN;
    };
    return {
      target: spec.name,
      family: spec.family,
      transport: spec.transport,
      desc: spec.desc,
      rounds: rs.length,
      roundsAll: all.length,
      cleanOnly: clean.length >= 2,
      seqP50: m((r) => r.seq?.p50),
      seqP90: m((r) => r.seq?.p90),
      seqP99: m((r) => r.seq?.p99),
      addedP50: m(added),
      c16Rps: m((r) => r.c16?.callsPerSec),
      c16P50: m((r) => r.c16?.p50),
      c16P99: m((r) => r.c16?.p99),
      c64Rps: m((r) => r.c64?.callsPerSec),
      c64P99: m((r) => r.c64?.p99),
      serverCpu: m((r) => r.serverCpuPerCall),
      upstreamCpu: m((r) => r.upstreamCpuPerCall),
      driverCpu: m((r) => r.driverCpuPerCall),
      cpuRatioTutorial: m(ratio),
      addedVsTutorial: m(vsTut),
      rssMiB: m((r) => (r.rssBytes ?? NaN) / 2 ** 20),
      eldP99Ms: m((r) => r.eldP99Ms),
      connectMs: m((r) => r.connectMs),
      errors: all.reduce((a, r) => a + (r.seq?.errors ?? 0) + (r.c16?.errors ?? 0) + (r.c64?.errors ?? 0), 0),
      wrong: all.reduce((a, r) => a + (r.seq?.wrong ?? 0) + (r.c16?.wrong ?? 0) + (r.c64?.wrong ?? 0), 0),
    };
  });
}
