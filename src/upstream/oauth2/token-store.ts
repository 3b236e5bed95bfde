/**
 * Access tokens derived from a credential, cached until `expires_in` minus the skew, refreshed before
 * that, single-flight per key (many concurrent calls → one token request). A forced refresh (after
 * an upstream 401) always replaces a token obtained normally, however new, but a token that was itself
 * obtained by a forced refresh within `forceRefreshMinIntervalMs` is reused: a burst of calls
 * rejected with the same old token causes exactly one new token request.
 */
import type { Clock } from '../../core/clock.js';
import { isKeywardError } from '../../core/errors.js';

export interface CachedToken {
  readonly accessToken: string;
  /** Epoch ms when the server says the token expires. */
  readonly expiresAt: number;
  /** Epoch ms from which the token is refreshed before use. */
  readonly refreshAt: number;
  readonly fetchedAt: number;
  /** Obtained by a forced refresh (after an upstream rejection). */
  readonly forced: boolean;
}

export interface FetchedToken {
  readonly accessToken: string;
  readonly expiresIn: number | undefined;
}

export interface TokenStoreOptions {
  readonly clock: Clock;
  readonly skewSeconds: number;
  /** Lifetime assumed when the server sends no `expires_in`. */
  readonly defaultLifetimeSeconds?: number | undefined;
  readonly forceRefreshMinIntervalMs?: number | undefined;
  readonly maxEntries?: number;
}

export class TokenStore {
  private readonly entries = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly clock: Clock;
  private readonly skewMs: number;
  private readonly defaultLifetimeMs: number;
  private readonly minIntervalMs: number;
  private readonly maxEntries: number;

  constructor(options: TokenStoreOptions) {
    this.clock = options.clock;
    this.skewMs = options.skewSeconds * 1000;
    this.defaultLifetimeMs = (options.defaultLifetimeSeconds ?? 300) * 1000;
    this.minIntervalMs = options.forceRefreshMinIntervalMs ?? 2000;
    this.maxEntries = options.maxEntries ?? 1000;
  }

  /** A valid token for `key`, fetching one (once, however many callers wait) when needed. */
  async get(key: string, forceRefresh: boolean, fetcher: () => Promise<FetchedToken>): Promise<CachedToken> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const now = this.clock.now();
    const entry = this.entries.get(key);
    if (entry) {
      if (forceRefresh ? this.freshlyForced(entry, now) : now < entry.refreshAt) return entry;
    }
    const promise = this.fetch(key, fetcher, forceRefresh, forceRefresh ? undefined : entry);
    this.inflight.set(key, promise);
    try {
      return await promise;
    } finally {
      if (this.inflight.get(key) === promise) this.inflight.delete(key);
    }
  }

  private freshlyForced(token: CachedToken, now: number): boolean {
    return token.forced && now - token.fetchedAt < this.minIntervalMs;
  }

  private async fetch(
    key: string,
    fetcher: () => Promise<FetchedToken>,
    forced: boolean,
    current: CachedToken | undefined,
  ): Promise<CachedToken> {
    let fetched: FetchedToken;
    try {
      fetched = await fetcher();
    } catch (error) {
      // Refreshing early failed on availability: the current token is still good until it expires.
      if (
        current &&
        this.clock.now() < current.expiresAt &&
        isKeywardError(error) &&
        error.code === 'secret_backend_unavailable'
      ) {
        return current;
      }
      throw error;
    }
    const fetchedAt = this.clock.now();
    const lifetimeMs = fetched.expiresIn !== undefined ? fetched.expiresIn * 1000 : this.defaultLifetimeMs;
    const skew = Math.min(this.skewMs, lifetimeMs / 2);
    const token: CachedToken = {
      accessToken: fetched.accessToken,
      expiresAt: fetchedAt + lifetimeMs,
      refreshAt: fetchedAt + lifetimeMs - skew,
      fetchedAt,
      forced,
    };
    this.entries.delete(key);
    this.entries.set(key, token);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return token;
  }

  /** Drops tokens the upstream may have rejected (all but those fetched within the collapse interval). */
  invalidate(key?: string): void {
    const now = this.clock.now();
    for (const [k, token] of this.entries) {
      if ((key === undefined || k === key) && now - token.fetchedAt >= this.minIntervalMs)
        this.entries.delete(k);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
