/** The in-process credential cache: an LRU bounded by maxEntries, expiring entries by the injected Clock. */
import type { Clock } from '../../core/clock.js';
import type { CacheEntry, CredentialCache } from '../credential-cache.js';

export class MemoryCache implements CredentialCache {
  readonly kind = 'memory';
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    private readonly maxEntries: number,
    private readonly clock: Clock,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
  }

  /** Returns the entry until its staleUntil (the resolver decides fresh vs stale), bumping it in the LRU. */
  async get(key: string): Promise<CacheEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (this.clock.now() >= entry.staleUntil) return undefined;
    this.entries.set(key, entry);
    return entry;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    this.entries.delete(key);
    if (this.clock.now() >= entry.staleUntil) return;
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  async invalidate(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async invalidatePrefix(prefix: string): Promise<void> {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  async probe(): Promise<{ ok: boolean; message: string }> {
    return { ok: true, message: `memory cache: ${this.entries.size}/${this.maxEntries} entries` };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  /** Number of entries held (expired ones included until touched). */
  get size(): number {
    return this.entries.size;
  }
}
