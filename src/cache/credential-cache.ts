/**
 * CredentialCache: a short-lived store of fetched secrets, keyed by a hash of (backend, tenant,
 * ref, field). Every hit is still authorized by the pipeline before use. Implementations: memory
 * (default), redis (shared between replicas, values AEAD-encrypted, invalidation over pub/sub).
 */
import type { Secret } from '../core/types.js';

export interface CacheEntry {
  readonly secret: Secret;
  /** Epoch ms when the entry stops being fresh. */
  readonly freshUntil: number;
  /** Epoch ms until which it may still be served while the backend is unavailable. */
  readonly staleUntil: number;
}

export interface CredentialCache {
  readonly kind: string;
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry): Promise<void>;
  /** Drops one key here and, for shared caches, on every replica. */
  invalidate(key: string): Promise<void>;
  /** Drops every key whose logical ref matches (rotation of a secret used by many tenants). */
  invalidatePrefix?(prefix: string): Promise<void>;
  /** Subscribe to invalidations coming from other replicas. */
  onInvalidate?(listener: (key: string) => void): void;
  probe(): Promise<{ ok: boolean; message: string }>;
  close(): Promise<void>;
}
