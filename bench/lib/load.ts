/** Closed-loop (N calls at concurrency C) and open-loop (fixed rate, no coordinated omission) load. */
import type { CallOutcome } from './drivers.js';
import { summarize, type LatencySummary } from './stats.js';

export type CallFn = (k: number) => Promise<CallOutcome>;

export interface PhaseResult extends LatencySummary {
  /** Calls that failed: protocol errors, tool errors, exceptions, timeouts. */
  errors: number;
  /** Calls answered with another request's data. */
  wrong: number;
  firstError?: string | undefined;
}

function tally(
  outcome: CallOutcome,
  r: { errors: number; wrong: number; firstError?: string | undefined },
): void {
  if (outcome === 'ok') return;
  if (outcome === 'wrong') r.wrong++;
  else r.errors++;
  r.firstError ??= outcome;
}

export async function closedLoop(
  call: CallFn,
  n: number,
  concurrency: number,
  offset = 0,
): Promise<PhaseResult> {
  const lat: number[] = [];
  const r = { errors: 0, wrong: 0, firstError: undefined as string | undefined };
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      const k = offset + next++;
      const s = performance.now();
      try {
        tally(await call(k), r);
      } catch (e) {
        r.errors++;
        r.firstError ??= String((e as Error)?.message ?? e).slice(0, 160);
      }
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ...summarize(lat, performance.now() - t0), ...r };
}

/**
 * Sends at `rate` calls/s for `durationMs`, each call at its scheduled time whatever the previous
 * ones did; latency counts from the scheduled time, so a stall shows in p99 (no coordinated omission).
 */
export async function openLoop(
  call: CallFn,
  rate: number,
  durationMs: number,
  offset = 0,
): Promise<PhaseResult> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const lat: number[] = [];
  const r = { errors: 0, wrong: 0, firstError: undefined as string | undefined };
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  const send = (i: number, due: number): void => {
    inflight.push(
      call(offset + i).then(
        (o) => {
          tally(o, r);
          lat.push(performance.now() - due);
        },
        (e: unknown) => {
          r.errors++;
          r.firstError ??= String(e);
          lat.push(performance.now() - due);
        },
      ),
    );
  };
  let i = 0;
  while (i < total) {
    // Send everything that is due (never early), then sleep until the next send time.
    const now = performance.now();
    while (i < total && t0 + i * interval <= now) {
      send(i, t0 + i * interval);
      i++;
    }
    if (i < total)
      await new Promise((res) => setTimeout(res, Math.max(0, t0 + i * interval - performance.now())));
  }
  await Promise.all(inflight);
  return { ...summarize(lat, performance.now() - t0), ...r };
}
