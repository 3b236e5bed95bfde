/** Percentiles, medians and the latency summary of one phase. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? NaN;
}

export function median(values: readonly number[]): number {
  const b = values.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (b.length === 0) return NaN;
  const m = b.length >> 1;
  return b.length % 2 ? (b[m] ?? NaN) : ((b[m - 1] ?? 0) + (b[m] ?? 0)) / 2;
}

export interface LatencySummary {
  n: number;
  callsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** `latMs` in ms; `wallMs` the phase's wall time. */
export function summarize(latMs: number[], wallMs: number): LatencySummary {
  const s = [...latMs].sort((a, b) => a - b);
  return {
    n: s.length,
    callsPerSec: s.length / (wallMs / 1000),
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
}

export const round3 = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : NaN);
