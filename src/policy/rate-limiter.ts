/**
 * RateLimiter: per-rule token buckets keyed by tenant × agent × permission (or × tool). The
 * in-memory bucket lives here; the remote mode puts the same state in Redis behind this interface.
 */
import type { Clock } from '../core/clock.js';

/** A rule's limit: `requests` calls per `perSeconds`, refilled continuously. */
export interface RateLimit {
  readonly requests: number;
  readonly perSeconds: number;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  readonly kind: string;
  /** Takes one token from the bucket `key`; when empty, says how long until one is back (ceil, s). */
  take(key: string, limit: RateLimit): Promise<RateDecision>;
  /** Whole tokens left in `key` without taking one (for list_capabilities). */
  remaining(key: string, limit: RateLimit): Promise<number>;
  close(): Promise<void>;
}

/** The bucket key: one bucket per rule × tenant × agent × (permission or tool). */
export function rateKey(parts: {
  ruleId: string;
  tenant: string;
  agent: string;
  permission: string;
  tool: string;
  per: 'permission' | 'tool';
}): string {
  const scope = parts.per === 'tool' ? `tool=${parts.tool}` : `perm=${parts.permission}`;
  return [parts.ruleId, parts.tenant, parts.agent, scope].map(encodeURIComponent).join('|');
}

/**
 * Seconds until one token is available, rounded up to the whole second. A bucket holding
 * `tokens` (< 1) refills at `limit.requests / limit.perSeconds` tokens per second.
 */
export function secondsUntilToken(tokens: number, limit: RateLimit): number {
  const ratePerMs = limit.requests / (limit.perSeconds * 1000);
  const waitMs = (1 - tokens) / ratePerMs;
  return Math.max(1, Math.ceil(waitMs / 1000 - 1e-9));
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  limit: RateLimit;
}

/** Token buckets in process memory; idle full buckets are swept so memory stays bounded. */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  private readonly buckets = new Map<string, Bucket>();
  private takes = 0;

  constructor(private readonly clock: Clock) {}

  private refill(key: string, limit: RateLimit): Bucket {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: limit.requests, updatedAt: now, limit };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.updatedAt);
    const ratePerMs = limit.requests / (limit.perSeconds * 1000);
    bucket.tokens = Math.min(limit.requests, bucket.tokens + elapsed * ratePerMs);
    bucket.updatedAt = now;
    bucket.limit = limit;
    return bucket;
  }

  take(key: string, limit: RateLimit): Promise<RateDecision> {
    if (++this.takes % 10_000 === 0) this.sweep();
    const bucket = this.refill(key, limit);
    // Tolerate float drift: 0.9999999999 tokens after an exact refill counts as one.
    if (bucket.tokens >= 1 - 1e-9) {
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      return Promise.resolve({ ok: true });
    }
    return Promise.resolve({ ok: false, retryAfterSeconds: secondsUntilToken(bucket.tokens, limit) });
  }

  remaining(key: string, limit: RateLimit): Promise<number> {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return Promise.resolve(limit.requests);
    return Promise.resolve(Math.floor(this.refill(key, limit).tokens + 1e-9));
  }

  /** Drops buckets that have refilled completely: a fresh bucket is full, so nothing changes. */
  private sweep(): void {
    const now = this.clock.now();
    for (const [key, bucket] of this.buckets) {
      const ratePerMs = bucket.limit.requests / (bucket.limit.perSeconds * 1000);
      if (bucket.tokens + (now - bucket.updatedAt) * ratePerMs >= bucket.limit.requests)
        this.buckets.delete(key);
    }
  }

  close(): Promise<void> {
    this.buckets.clear();
    return Promise.resolve();
  }
}
