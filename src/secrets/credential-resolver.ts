/**
 * CredentialResolver: turns (credential id, principal) into a Secret. Expands the ref from the
 * principal, serves fresh cache hits, single-flights backend reads per cache key, serves stale
 * values only on availability failures inside their window, evicts on revoked/not-found/invalid/
 * expired, renews renewable secrets near expiry, and drops cached copies when a backend says a
 * ref changed.
 */
import { createHash } from 'node:crypto';
import type { CacheEntry, CredentialCache } from '../cache/credential-cache.js';
import type { Clock } from '../core/clock.js';
import { KeywardError, isKeywardError, type ErrorCode } from '../core/errors.js';
import type { Principal, Secret, SecretRequest } from '../core/types.js';
import type { CredentialConfig } from '../config/schema.js';
import { DEFAULTS } from '../config/defaults.js';
import type { Logger } from '../observability/logger.js';
import { compileRefTemplate, type RefTemplate } from './ref-template.js';
import type { SecretBackend } from './secret-backend.js';

export interface CredentialResolverOptions {
  /** `config.credentials`. */
  readonly credentials: Readonly<Record<string, CredentialConfig>>;
  /** Backends by config name (usually ResilientBackend-wrapped). */
  readonly backends: ReadonlyMap<string, SecretBackend>;
  /**
   * Per-backend `staleSeconds` (from `config.backends[name]`); missing → the backend's own
   * `staleSeconds` (ResilientBackend exposes it) → the default.
   */
  readonly staleSeconds?: Readonly<Record<string, number>>;
  readonly cache: CredentialCache;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A cached renewable secret this close to expiry is renewed in the background. Default 30 s. */
  readonly renewWindowMs?: number;
  /**
   * Credentials resolved elsewhere: user connections (src/connections/), whose value is a user's
   * access token kept by the connection manager, never in the shared credential cache.
   */
  readonly delegate?: DelegatedCredentials;
}

/** Resolves the credentials it `handles` instead of the backend + cache path. */
export interface DelegatedCredentials {
  handles(credentialId: string): boolean;
  resolve(
    credentialId: string,
    principal: Principal,
    options: Pick<
      ResolveOptions,
      'forceRefresh' | 'rejectedVersion' | 'rejectedStatus' | 'signal' | 'requestId' | 'interaction'
    >,
  ): Promise<Secret>;
}

export interface ResolveOptions {
  /** Bypass the cache (single-flighted too): the pipeline's one re-fetch after an upstream 401/403. */
  readonly forceRefresh?: boolean;
  /** The version the upstream just rejected, passed to the backend on a forced re-fetch. */
  readonly rejectedVersion?: string;
  /** The upstream's status on that rejection (401 or 403): user connections treat them apart. */
  readonly rejectedStatus?: number;
  /** Stops waiting (the shared backend read itself continues for other waiters). */
  readonly signal?: AbortSignal;
  /** Told whether the call was served fresh from the cache (tracing). */
  readonly outcome?: ResolveOutcome;
  /** The call's request id (audit records of delegated credentials). */
  readonly requestId?: string;
  /** What the call can ask its user (URL elicitation), for a user connection that needs consent. */
  readonly interaction?: {
    readonly openUrl?: (request: {
      message: string;
      url: string;
      elicitationId: string;
    }) => Promise<'accept' | 'decline' | 'cancel'>;
    readonly completeUrl?: (elicitationId: string) => Promise<void>;
  };
}

/** Filled in by `resolve` when given: `hit` (fresh from the cache) or `miss` (anything else). */
export interface ResolveOutcome {
  cache?: 'hit' | 'miss';
}

export interface ResolverStats {
  /** Backend `get` calls made. */
  reads: number;
  /** Fresh cache hits. */
  hits: number;
  /** Calls that were not served fresh from the cache (including forced refreshes). */
  misses: number;
  /** Stale values served because the backend was unavailable. */
  staleServed: number;
  /** Successful renewals of renewable secrets. */
  renewals: number;
}

const EVICTING: ReadonlySet<ErrorCode> = new Set([
  'credential_revoked',
  'credential_not_found',
  'credential_invalid',
  'credential_expired',
]);

/** Keys whose invalidations are counted one by one (beyond it, the global epoch is bumped). */
const MAX_KEY_EPOCHS = 10_000;

interface Flight {
  readonly promise: Promise<Secret>;
  readonly forced: boolean;
}

interface Target {
  readonly credentialId: string;
  readonly credential: CredentialConfig;
  readonly backendName: string;
  readonly backend: SecretBackend;
  readonly request: SecretRequest;
  readonly key: string;
}

function hash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** Cache keys are `kw:<backend>:<backend+ref>:<field+version+stage>` hashes, so one ref drops by prefix. */
export function backendKeyPrefix(backendName: string): string {
  return `kw:${hash(backendName).slice(0, 16)}:`;
}

export function refKeyPrefix(backendName: string, ref: string): string {
  return `${backendKeyPrefix(backendName)}${hash(backendName, ref)}:`;
}

/**
 * Keys already computed, so that a cache hit costs no hashing (three SHA-256 per call otherwise).
 * Refs can be templated per principal, so the memo is bounded: past the bound it starts over.
 */
const computedKeys = new Map<string, string>();
const MAX_COMPUTED_KEYS = 10_000;

export function credentialCacheKey(backendName: string, request: SecretRequest): string {
  const parts = [backendName, request.ref, request.field ?? '', request.version ?? '', request.stage ?? ''];
  const memo = parts.join('\u0000');
  let key = computedKeys.get(memo);
  if (key === undefined) {
    key = `${refKeyPrefix(backendName, request.ref)}${hash(...parts)}`;
    if (computedKeys.size >= MAX_COMPUTED_KEYS) computedKeys.clear();
    computedKeys.set(memo, key);
  }
  return key;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class CredentialResolver {
  private readonly templates = new Map<string, RefTemplate>();
  private readonly inflight = new Map<string, Flight>();
  private readonly renewing = new Map<string, Promise<Secret | undefined>>();
  private readonly readsByKey = new Map<string, number>();
  /** Keys this resolver stored, per ref prefix, for caches without invalidatePrefix. */
  private readonly knownKeys = new Map<string, Set<string>>();
  private readonly counters: ResolverStats = { reads: 0, hits: 0, misses: 0, staleServed: 0, renewals: 0 };
  private readonly renewWindowMs: number;
  private closed = false;
  /**
   * A read that started before an invalidation of its key does not cache its result. Dropping one
   * key bumps that key's epoch only (a refresh of one key must not discard another key's refresh
   * running at the same time: during a rotation of several keys that cost a second backend read per
   * key); dropping a whole ref or backend bumps the global one.
   */
  private epoch = 0;
  private readonly keyEpochs = new Map<string, number>();

  constructor(private readonly options: CredentialResolverOptions) {
    this.renewWindowMs = options.renewWindowMs ?? 30_000;
    for (const [id, credential] of Object.entries(options.credentials)) {
      this.templates.set(id, compileRefTemplate(credential.ref));
    }
    for (const [name, backend] of options.backends) {
      backend.onChange?.((ref) => {
        if (this.closed) return;
        const done = ref === undefined ? this.invalidateBackend(name) : this.invalidateRef(name, ref);
        done.catch((error: unknown) =>
          this.options.logger.warn({ backend: name, err: errorMessage(error) }, 'cache invalidation failed'),
        );
      });
    }
  }

  /** Resolves a configured credential for a principal. Throws KeywardError with a catalog code. */
  async resolve(credentialId: string, principal: Principal, options: ResolveOptions = {}): Promise<Secret> {
    if (this.options.delegate?.handles(credentialId) === true) {
      if (options.outcome) options.outcome.cache = 'miss';
      return this.options.delegate.resolve(credentialId, principal, options);
    }
    const target = this.target(credentialId, principal);
    const { key } = target;
    if (options.forceRefresh) {
      if (options.outcome) options.outcome.cache = 'miss';
      // One refresh at a time per key: calls whose value was rejected while it runs wait for it.
      const running = this.inflight.get(key);
      if (running?.forced) return this.wait(running.promise, options.signal);
      if (options.rejectedVersion !== undefined) {
        // Calls that were in flight with the old value get their 401 after another call already
        // fetched the new version: they use it instead of reading the backend again.
        const current = await this.cacheGet(key);
        const now = this.options.clock.now();
        if (
          current &&
          current.secret.version !== options.rejectedVersion &&
          now < current.freshUntil &&
          (current.secret.expiresAt === undefined || now < current.secret.expiresAt)
        ) {
          this.counters.hits += 1;
          if (options.outcome) options.outcome.cache = 'hit';
          return current.secret;
        }
        const started = this.inflight.get(key);
        if (started?.forced) return this.wait(started.promise, options.signal);
      }
      this.counters.misses += 1;
      if (options.outcome) options.outcome.cache = 'miss';
      return this.wait(
        this.flight(key, true, async () => {
          // The value was just rejected upstream: it must not be served again, not even as stale.
          await this.cacheInvalidate(key);
          return this.read(target, undefined, options.rejectedVersion);
        }),
        options.signal,
      );
    }
    const entry = await this.cacheGet(key);
    const now = this.options.clock.now();
    if (
      entry &&
      now < entry.freshUntil &&
      (entry.secret.expiresAt === undefined || now < entry.secret.expiresAt)
    ) {
      this.counters.hits += 1;
      if (options.outcome) options.outcome.cache = 'hit';
      this.maybeRenewInBackground(target, entry.secret, now);
      return entry.secret;
    }
    this.counters.misses += 1;
    if (options.outcome) options.outcome.cache = 'miss';
    return this.wait(
      this.flight(key, false, () => this.refetch(target, entry)),
      options.signal,
    );
  }

  /** Drops the cached value of one credential for one principal. */
  async invalidate(credentialId: string, principal: Principal): Promise<void> {
    if (this.options.delegate?.handles(credentialId) === true) return;
    await this.cacheInvalidate(this.target(credentialId, principal).key);
  }

  /** Drops every cached key (any field/version/stage) of one backend ref: rotation. */
  async invalidateRef(backendName: string, ref: string): Promise<void> {
    await this.invalidateByPrefix(refKeyPrefix(backendName, ref));
  }

  /** Drops every cached key of one backend (it reported a change it could not name). */
  async invalidateBackend(backendName: string): Promise<void> {
    await this.invalidateByPrefix(backendKeyPrefix(backendName));
  }

  /** The cache key of a credential for a principal (tests and the benchmark). */
  cacheKey(credentialId: string, principal: Principal): string {
    return this.target(credentialId, principal).key;
  }

  stats(): ResolverStats {
    return { ...this.counters };
  }

  /** Backend reads made for one credential × principal key. */
  readsFor(credentialId: string, principal: Principal): number {
    return this.readsByKey.get(this.cacheKey(credentialId, principal)) ?? 0;
  }

  /** Stops reacting to backend change events. Backends and cache are closed by their owner. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private target(credentialId: string, principal: Principal): Target {
    const credential = this.options.credentials[credentialId];
    const template = this.templates.get(credentialId);
    if (!credential || !template) {
      throw new KeywardError('internal_error', 'the tool names a credential that is not configured', {
        detail: `unknown credential "${credentialId}"`,
      });
    }
    const backend = this.options.backends.get(credential.backend);
    if (!backend) {
      throw new KeywardError('internal_error', 'the credential names a backend that is not configured', {
        detail: `unknown backend "${credential.backend}" for credential "${credentialId}"`,
      });
    }
    const request: SecretRequest = {
      ref: template.expand(principal),
      ...(credential.field !== undefined ? { field: credential.field } : {}),
      ...(credential.version !== undefined ? { version: credential.version } : {}),
      ...(credential.stage !== undefined ? { stage: credential.stage } : {}),
    };
    return {
      credentialId,
      credential,
      backendName: credential.backend,
      backend,
      request,
      key: credentialCacheKey(credential.backend, request),
    };
  }

  /** One shared promise per key; a forced refresh never joins a plain read started before it. */
  private flight(key: string, forced: boolean, run: () => Promise<Secret>): Promise<Secret> {
    const existing = this.inflight.get(key);
    if (existing && (!forced || existing.forced)) return existing.promise;
    const promise = run().finally(() => {
      if (this.inflight.get(key)?.promise === promise) this.inflight.delete(key);
    });
    this.inflight.set(key, { promise, forced });
    return promise;
  }

  private wait(promise: Promise<Secret>, signal: AbortSignal | undefined): Promise<Secret> {
    if (!signal) return promise;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<Secret>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** A miss: renew a still-valid renewable entry if possible, else read, falling back to stale. */
  private async refetch(target: Target, previous: CacheEntry | undefined): Promise<Secret> {
    const now = this.options.clock.now();
    const old = previous?.secret;
    if (old?.renewable && target.backend.renew && old.expiresAt !== undefined && now < old.expiresAt) {
      const renewed = await this.renew(target, old).catch(() => undefined);
      if (renewed) return renewed;
    }
    return this.read(target, previous, undefined);
  }

  private async read(
    target: Target,
    stale: CacheEntry | undefined,
    rejectedVersion: string | undefined,
  ): Promise<Secret> {
    const { key } = target;
    const epoch = this.epoch;
    const keyEpoch = this.keyEpochs.get(key) ?? 0;
    this.counters.reads += 1;
    this.readsByKey.set(key, (this.readsByKey.get(key) ?? 0) + 1);
    let secret: Secret;
    try {
      secret = await target.backend.get(
        target.request,
        rejectedVersion !== undefined ? { rejectedVersion } : {},
      );
    } catch (error) {
      const now = this.options.clock.now();
      if (
        isKeywardError(error) &&
        error.code === 'secret_backend_unavailable' &&
        stale &&
        this.canServeStale(stale, now)
      ) {
        this.counters.staleServed += 1;
        this.options.logger.warn(
          { credential: target.credentialId, backend: target.backendName, keyId: stale.secret.keyId },
          'secret backend unavailable: serving the cached value within its stale window',
        );
        return stale.secret;
      }
      if (isKeywardError(error) && EVICTING.has(error.code)) await this.cacheInvalidate(key);
      throw error;
    }
    const now = this.options.clock.now();
    if (secret.expiresAt !== undefined && secret.expiresAt <= now) {
      await this.cacheInvalidate(key);
      throw new KeywardError('credential_expired', `credential "${target.credentialId}" has expired`);
    }
    if (epoch === this.epoch && keyEpoch === (this.keyEpochs.get(key) ?? 0)) {
      await this.store(target, secret, now);
    }
    return secret;
  }

  private canServeStale(entry: CacheEntry, now: number): boolean {
    return now < entry.staleUntil && (entry.secret.expiresAt === undefined || now < entry.secret.expiresAt);
  }

  /** TTL = min(cacheTtlSeconds, expiresAt − skew, hard cap); stale window capped at expiresAt. */
  private async store(target: Target, secret: Secret, now: number): Promise<void> {
    let ttlMs = Math.min(target.credential.cacheTtlSeconds, DEFAULTS.cache.maxTtlSeconds) * 1000;
    if (secret.expiresAt !== undefined)
      ttlMs = Math.min(ttlMs, secret.expiresAt - DEFAULTS.cache.expirySkewMs - now);
    if (ttlMs <= 0) {
      await this.cacheInvalidate(target.key);
      return;
    }
    const freshUntil = now + ttlMs;
    const staleSeconds =
      this.options.staleSeconds?.[target.backendName] ??
      (target.backend as { staleSeconds?: number }).staleSeconds ??
      DEFAULTS.backend.staleSeconds;
    let staleUntil = freshUntil + staleSeconds * 1000;
    if (secret.expiresAt !== undefined) staleUntil = Math.min(staleUntil, secret.expiresAt);
    try {
      await this.options.cache.set(target.key, {
        secret,
        freshUntil,
        staleUntil: Math.max(staleUntil, freshUntil),
      });
      this.remember(target);
    } catch (error) {
      this.options.logger.warn(
        { credential: target.credentialId, err: errorMessage(error) },
        'credential cache write failed',
      );
    }
  }

  private maybeRenewInBackground(target: Target, secret: Secret, now: number): void {
    if (!secret.renewable || !target.backend.renew || secret.expiresAt === undefined) return;
    if (secret.expiresAt - now > this.renewWindowMs) return;
    this.renew(target, secret).catch(() => undefined);
  }

  /** Single-flight renewal per key; a renewed secret replaces the cache entry. */
  private renew(target: Target, secret: Secret): Promise<Secret | undefined> {
    const existing = this.renewing.get(target.key);
    if (existing) return existing;
    const promise = (async () => {
      try {
        const renewed = await target.backend.renew!(secret);
        if (!renewed) return undefined;
        this.counters.renewals += 1;
        await this.store(target, renewed, this.options.clock.now());
        return renewed;
      } catch (error) {
        this.options.logger.warn(
          { credential: target.credentialId, keyId: secret.keyId, err: errorMessage(error) },
          'credential renewal failed',
        );
        throw error;
      }
    })().finally(() => this.renewing.delete(target.key));
    this.renewing.set(target.key, promise);
    return promise;
  }

  private remember(target: Target): void {
    const prefix = refKeyPrefix(target.backendName, target.request.ref);
    let keys = this.knownKeys.get(prefix);
    if (!keys) this.knownKeys.set(prefix, (keys = new Set()));
    keys.add(target.key);
  }

  private async invalidateByPrefix(prefix: string): Promise<void> {
    this.epoch += 1;
    const local: string[] = [];
    for (const [refPrefix, keys] of this.knownKeys) {
      if (!refPrefix.startsWith(prefix)) continue;
      local.push(...keys);
      this.knownKeys.delete(refPrefix);
    }
    if (this.options.cache.invalidatePrefix) {
      await this.options.cache.invalidatePrefix(prefix);
    } else {
      await Promise.all(local.map((key) => this.cacheInvalidate(key)));
    }
  }

  private async cacheGet(key: string): Promise<CacheEntry | undefined> {
    try {
      return await this.options.cache.get(key);
    } catch (error) {
      this.options.logger.warn(
        { err: errorMessage(error) },
        'credential cache read failed: treating as a miss',
      );
      return undefined;
    }
  }

  private async cacheInvalidate(key: string): Promise<void> {
    if (this.keyEpochs.size >= MAX_KEY_EPOCHS) {
      // Bounded: forgetting every key's epoch is safe once the global one moves on.
      this.keyEpochs.clear();
      this.epoch += 1;
    }
    this.keyEpochs.set(key, (this.keyEpochs.get(key) ?? 0) + 1);
    try {
      await this.options.cache.invalidate(key);
    } catch (error) {
      this.options.logger.warn({ err: errorMessage(error) }, 'credential cache invalidation failed');
    }
  }
}
