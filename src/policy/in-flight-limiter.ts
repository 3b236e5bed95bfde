/**
 * Calls running at once per principal (issue 14: one agent cannot take every upstream slot).
 * Counted across sessions and JSON-RPC batches; with a Redis cache, across replicas too
 * (policy/redis/redis-in-flight-limiter.ts). Over the cap a call is answered `rate_limited` at
 * once, never queued. Entries exist only while calls run (bounded memory).
 */
import type { Principal } from '../core/types.js';

export const principalKey = (p: Pick<Principal, 'tenant' | 'agent'>): string => `${p.tenant}\u0000${p.agent}`;

export interface InFlightLimiter {
  readonly max: number;
  /** Calls this principal may still start now. */
  available(key: string): Promise<number>;
  /** A lease for one call, or undefined when the principal is at its cap. */
  tryAcquire(key: string): Promise<string | undefined>;
  release(key: string, lease: string): Promise<void>;
  close?(): Promise<void>;
}

/** One process's count (a single replica, or the fallback while Redis cannot answer). */
export class MemoryInFlightLimiter implements InFlightLimiter {
  private readonly counts = new Map<string, number>();
  private next = 0;

  constructor(readonly max: number) {}

  available(key: string): Promise<number> {
    return Promise.resolve(Math.max(0, this.max - (this.counts.get(key) ?? 0)));
  }

  tryAcquire(key: string): Promise<string | undefined> {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return Promise.resolve(undefined);
    this.counts.set(key, n + 1);
    return Promise.resolve(`m${++this.next}`);
  }

  release(key: string): Promise<void> {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
    return Promise.resolve();
  }
}
