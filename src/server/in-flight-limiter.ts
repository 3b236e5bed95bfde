/**
 * Calls running at once per principal (issue 14: one agent cannot take every upstream slot).
 * Counted across sessions and JSON-RPC batches of one process; over the cap a call is answered
 * `rate_limited` at once, never queued. Entries exist only while calls run (bounded memory).
 */
import type { Principal } from '../core/types.js';

export const principalKey = (p: Pick<Principal, 'tenant' | 'agent'>): string => `${p.tenant}\u0000${p.agent}`;

export class InFlightLimiter {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Calls this principal may still start now. */
  available(key: string): number {
    return Math.max(0, this.max - (this.counts.get(key) ?? 0));
  }

  tryAcquire(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}
