// Tests of CredentialResolver: templating, single-flight, TTL, stale window, eviction, refresh, renewal.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCache } from '../../../src/cache/memory/memory-cache.js';
import { ManualClock } from '../../../src/core/clock.js';
import { KeywardError, type ErrorCode } from '../../../src/core/errors.js';
import type { Principal, Secret, SecretRequest } from '../../../src/core/types.js';
import { credentialSchema, type CredentialConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { CredentialResolver } from '../../../src/secrets/credential-resolver.js';
import type { GetOptions, SecretBackend } from '../../../src/secrets/secret-backend.js';

/** A scriptable in-memory backend that records every read. */
class FakeBackend implements SecretBackend {
  readonly kind = 'fake';
  readonly storesOneString = true;
  readonly readPermissionHint = 'test';
  reads: { request: SecretRequest; options: GetOptions | undefined }[] = [];
  values = new Map<string, { value: string; version: string; expiresAt?: number; renewable?: boolean }>();
  failWith: ErrorCode | undefined;
  gate: Promise<void> | undefined;
  renewCalls = 0;
  renewTo: Secret | undefined;
  private listeners: ((ref: string | undefined) => void)[] = [];
  renew?: (secret: Secret) => Promise<Secret | undefined>;

  async get(request: SecretRequest, options?: GetOptions): Promise<Secret> {
    this.reads.push({ request, options });
    if (this.gate) await this.gate;
    if (this.failWith) throw new KeywardError(this.failWith, `fake ${this.failWith}`);
    const v = this.values.get(request.ref);
    if (!v) throw new KeywardError('credential_not_found', 'no such secret');
    return { ...v, keyId: `fake:${request.ref}` };
  }
  onChange(listener: (ref: string | undefined) => void): void {
    this.listeners.push(listener);
  }
  fire(ref: string | undefined): void {
    for (const l of this.listeners) l(ref);
  }
  async probe() {
    return { ok: true, message: 'fake' };
  }
  async close() {}
}

function principal(tenant: string, agent = 'bot'): Principal {
  return { agent, tenant, roles: [], attributes: {}, authMethod: 'stdio' };
}

function cred(ref: string, extra: Partial<Record<string, unknown>> = {}): CredentialConfig {
  return credentialSchema.parse({
    backend: 'fake',
    ref,
    inject: { type: 'bearer' },
    origins: ['https://api.example.com'],
    ...extra,
  });
}

const resolvers: CredentialResolver[] = [];
function setup(
  credentials: Record<string, CredentialConfig>,
  opts: { staleSeconds?: number; renewWindowMs?: number } = {},
) {
  const clock = new ManualClock();
  const backend = new FakeBackend();
  const cache = new MemoryCache(100, clock);
  const resolver = new CredentialResolver({
    credentials,
    backends: new Map([['fake', backend]]),
    staleSeconds: { fake: opts.staleSeconds ?? 60 },
    cache,
    clock,
    logger: silentLogger(),
    ...(opts.renewWindowMs !== undefined ? { renewWindowMs: opts.renewWindowMs } : {}),
  });
  resolvers.push(resolver);
  return { clock, backend, cache, resolver };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (error instanceof KeywardError) return error.code;
    throw error;
  }
}

afterEach(async () => {
  await Promise.all(resolvers.splice(0).map((r) => r.close()));
});

describe('CredentialResolver', () => {
  it('expands {tenant}/{agent} from the principal and keeps tenants apart', async () => {
    const { backend, resolver } = setup({ gh: cred('tenants/{tenant}/{agent}/github') });
    backend.values.set('tenants/acme/bot/github', { value: 'acme-key', version: '1' });
    backend.values.set('tenants/globex/bot/github', { value: 'globex-key', version: '1' });
    expect((await resolver.resolve('gh', principal('acme'))).value).toBe('acme-key');
    expect((await resolver.resolve('gh', principal('globex'))).value).toBe('globex-key');
    expect(resolver.cacheKey('gh', principal('acme'))).not.toBe(resolver.cacheKey('gh', principal('globex')));
  });

  it('refuses tenant values that could escape the ref (../, slashes, . and ..)', async () => {
    const { backend, resolver } = setup({ gh: cred('tenants/{tenant}/github') });
    backend.values.set('tenants/acme/github', { value: 'k', version: '1' });
    for (const bad of ['../acme', '..', '.', 'a/b', '', 'x'.repeat(129), 'acme\n']) {
      expect(await codeOf(resolver.resolve('gh', principal(bad)))).toBe('credential_not_found');
    }
    expect(backend.reads).toHaveLength(0);
  });

  it('makes exactly one backend read for 100 concurrent resolves of one key', async () => {
    const { backend, resolver } = setup({ gh: cred('github') });
    backend.values.set('github', { value: 'k', version: '1' });
    let open!: () => void;
    backend.gate = new Promise((r) => (open = r));
    const all = Promise.all(Array.from({ length: 100 }, () => resolver.resolve('gh', principal('acme'))));
    await new Promise((r) => setTimeout(r, 10));
    open();
    const secrets = await all;
    expect(new Set(secrets.map((s) => s.value))).toEqual(new Set(['k']));
    expect(backend.reads).toHaveLength(1);
    expect(resolver.readsFor('gh', principal('acme'))).toBe(1);
    expect(resolver.stats()).toMatchObject({ reads: 1, misses: 100, hits: 0 });
    await resolver.resolve('gh', principal('acme'));
    expect(resolver.stats()).toMatchObject({ reads: 1, hits: 1 });
  });

  it('expires by TTL on the injected clock, and caps TTL at expiresAt − 5 s', async () => {
    const { clock, backend, resolver } = setup({ gh: cred('github', { cacheTtlSeconds: 60 }) });
    backend.values.set('github', { value: 'k1', version: '1' });
    await resolver.resolve('gh', principal('a'));
    clock.advance(59_999);
    await resolver.resolve('gh', principal('a'));
    expect(backend.reads).toHaveLength(1);
    clock.advance(1);
    backend.values.set('github', { value: 'k2', version: '2', expiresAt: clock.now() + 20_000 });
    expect((await resolver.resolve('gh', principal('a'))).value).toBe('k2');
    expect(backend.reads).toHaveLength(2);
    clock.advance(14_999);
    await resolver.resolve('gh', principal('a'));
    expect(backend.reads).toHaveLength(2);
    clock.advance(1);
    await resolver.resolve('gh', principal('a'));
    expect(backend.reads).toHaveLength(3);
  });

  it('serves stale on secret_backend_unavailable only within staleUntil and never past expiresAt', async () => {
    const { clock, backend, resolver } = setup(
      { gh: cred('github', { cacheTtlSeconds: 60 }) },
      { staleSeconds: 30 },
    );
    backend.values.set('github', { value: 'k', version: '1' });
    await resolver.resolve('gh', principal('a'));
    backend.failWith = 'secret_backend_unavailable';
    clock.advance(60_000 + 29_999);
    expect((await resolver.resolve('gh', principal('a'))).value).toBe('k');
    expect(resolver.stats().staleServed).toBe(1);
    clock.advance(1);
    expect(await codeOf(resolver.resolve('gh', principal('a')))).toBe('secret_backend_unavailable');

    // A value with an expiry: fresh until expiresAt − 5 s, stale window cut at expiresAt.
    backend.failWith = undefined;
    backend.values.set('github', { value: 'lease', version: '2', expiresAt: clock.now() + 10_000 });
    await resolver.resolve('gh', principal('a'));
    backend.failWith = 'secret_backend_unavailable';
    clock.advance(9_999);
    expect((await resolver.resolve('gh', principal('a'))).value).toBe('lease');
    clock.advance(1);
    expect(await codeOf(resolver.resolve('gh', principal('a')))).toBe('secret_backend_unavailable');
  });

  it.each([
    'credential_revoked',
    'credential_not_found',
    'credential_invalid',
    'credential_expired',
  ] as const)('evicts at once and never serves stale on %s', async (code) => {
    const { clock, backend, resolver } = setup(
      { gh: cred('github', { cacheTtlSeconds: 10 }) },
      { staleSeconds: 300 },
    );
    backend.values.set('github', { value: 'k', version: '1' });
    await resolver.resolve('gh', principal('a'));
    clock.advance(10_000);
    backend.failWith = code;
    expect(await codeOf(resolver.resolve('gh', principal('a')))).toBe(code);
    // Even once the backend is merely unavailable, the evicted value is gone for good.
    backend.failWith = 'secret_backend_unavailable';
    expect(await codeOf(resolver.resolve('gh', principal('a')))).toBe('secret_backend_unavailable');
    expect(resolver.stats().staleServed).toBe(0);
  });

  it('forceRefresh bypasses the cache, is single-flighted, passes rejectedVersion and never serves stale', async () => {
    const { backend, resolver } = setup({ gh: cred('github') });
    backend.values.set('github', { value: 'old', version: '1' });
    await resolver.resolve('gh', principal('a'));
    backend.values.set('github', { value: 'new', version: '2' });
    expect((await resolver.resolve('gh', principal('a'))).value).toBe('old');

    const forced = await Promise.all(
      Array.from({ length: 10 }, () =>
        resolver.resolve('gh', principal('a'), { forceRefresh: true, rejectedVersion: '1' }),
      ),
    );
    expect(forced.every((s) => s.value === 'new')).toBe(true);
    expect(backend.reads).toHaveLength(2);
    expect(backend.reads[1]?.options?.rejectedVersion).toBe('1');
    expect((await resolver.resolve('gh', principal('a'))).value).toBe('new');
    expect(backend.reads).toHaveLength(2);

    backend.failWith = 'secret_backend_unavailable';
    expect(await codeOf(resolver.resolve('gh', principal('a'), { forceRefresh: true }))).toBe(
      'secret_backend_unavailable',
    );
  });

  it('a late 401 for a version already replaced reuses the new value instead of reading again', async () => {
    const { backend, resolver } = setup({ gh: cred('github') });
    backend.values.set('github', { value: 'old', version: '1' });
    await resolver.resolve('gh', principal('a'));
    backend.values.set('github', { value: 'new', version: '2' });
    // The first call rejected with version 1 refreshes...
    expect(
      (await resolver.resolve('gh', principal('a'), { forceRefresh: true, rejectedVersion: '1' })).value,
    ).toBe('new');
    expect(backend.reads).toHaveLength(2);
    // ...and calls that were in flight with version 1 get their 401 afterwards: no new read.
    for (let i = 0; i < 5; i++) {
      expect(
        (await resolver.resolve('gh', principal('a'), { forceRefresh: true, rejectedVersion: '1' })).value,
      ).toBe('new');
    }
    expect(backend.reads).toHaveLength(2);
    // A rejection of the new version itself does read again.
    backend.values.set('github', { value: 'newer', version: '3' });
    expect(
      (await resolver.resolve('gh', principal('a'), { forceRefresh: true, rejectedVersion: '2' })).value,
    ).toBe('newer');
    expect(backend.reads).toHaveLength(3);
  });

  it('refreshes of several keys rotated at once each read their key once', async () => {
    const credentials = Object.fromEntries(
      Array.from({ length: 4 }, (_, k) => [`c${k}`, cred(`key${k}`)] as const),
    );
    const { backend, resolver } = setup(credentials);
    for (let k = 0; k < 4; k++) backend.values.set(`key${k}`, { value: `old${k}`, version: '1' });
    for (let k = 0; k < 4; k++) await resolver.resolve(`c${k}`, principal('a'));
    for (let k = 0; k < 4; k++) backend.values.set(`key${k}`, { value: `new${k}`, version: '2' });
    // Every key's value is rejected while the other keys' refreshes are still reading.
    let open!: () => void;
    backend.gate = new Promise<void>((resolve) => (open = resolve));
    const forced: Promise<Secret>[] = [];
    for (let k = 0; k < 4; k++) {
      forced.push(resolver.resolve(`c${k}`, principal('a'), { forceRefresh: true, rejectedVersion: '1' }));
      // This key's backend read is under way before the next key's value is rejected.
      await new Promise((resolve) => setImmediate(resolve));
      expect(backend.reads).toHaveLength(5 + k);
    }
    open();
    backend.gate = undefined;
    expect((await Promise.all(forced)).map((s) => s.value)).toEqual(['new0', 'new1', 'new2', 'new3']);
    const readsAfterRotation = backend.reads.length;
    // The refreshed values were cached: later calls, and late 401s for version 1, read nothing.
    for (let k = 0; k < 4; k++) {
      expect((await resolver.resolve(`c${k}`, principal('a'))).value).toBe(`new${k}`);
      expect(
        (await resolver.resolve(`c${k}`, principal('a'), { forceRefresh: true, rejectedVersion: '1' })).value,
      ).toBe(`new${k}`);
    }
    expect(readsAfterRotation).toBe(8);
    expect(backend.reads).toHaveLength(8);
  });

  it('invalidateRef and backend onChange drop every cached key of the ref', async () => {
    const { backend, resolver } = setup({
      tok: cred('shared', { field: 'token' }),
      user: cred('shared', { field: 'user' }),
      other: cred('other'),
    });
    backend.values.set('shared', { value: 'v', version: '1' });
    backend.values.set('other', { value: 'o', version: '1' });
    const reads = (): number => backend.reads.length;
    await resolver.resolve('tok', principal('a'));
    await resolver.resolve('user', principal('a'));
    await resolver.resolve('other', principal('a'));
    expect(reads()).toBe(3);
    backend.fire('shared');
    await new Promise((r) => setTimeout(r, 0));
    await resolver.resolve('tok', principal('a'));
    await resolver.resolve('user', principal('a'));
    await resolver.resolve('other', principal('a'));
    expect(reads()).toBe(5);
    backend.fire(undefined);
    await new Promise((r) => setTimeout(r, 0));
    await resolver.resolve('other', principal('a'));
    expect(reads()).toBe(6);
    await resolver.invalidate('other', principal('a'));
    await resolver.resolve('other', principal('a'));
    expect(reads()).toBe(7);
  });

  it('renews a renewable secret near expiry instead of re-reading it (single-flight)', async () => {
    const { clock, backend, resolver } = setup(
      { db: cred('database/creds/app', { cacheTtlSeconds: 300 }) },
      {
        renewWindowMs: 30_000,
      },
    );
    backend.values.set('database/creds/app', {
      value: 'pw',
      version: '1',
      expiresAt: clock.now() + 60_000,
      renewable: true,
    });
    backend.renew = async (secret) => {
      backend.renewCalls += 1;
      return { ...secret, expiresAt: clock.now() + 60_000 };
    };
    await resolver.resolve('db', principal('a'));
    clock.advance(35_000); // 25 s left: within the renew window, still fresh (TTL ends at 55 s)
    await Promise.all(Array.from({ length: 5 }, () => resolver.resolve('db', principal('a'))));
    await new Promise((r) => setTimeout(r, 0));
    expect(backend.renewCalls).toBe(1);
    clock.advance(26_000); // past the old expiry (60 s); the renewed lease (95 s) keeps it fresh
    await resolver.resolve('db', principal('a'));
    expect(backend.reads).toHaveLength(1);
    expect(resolver.stats().renewals).toBe(1);
  });

  it('lets a waiter give up with its signal while the shared read continues', async () => {
    const { backend, resolver } = setup({ gh: cred('github') });
    backend.values.set('github', { value: 'k', version: '1' });
    let open!: () => void;
    backend.gate = new Promise((r) => (open = r));
    const controller = new AbortController();
    const abandoned = resolver.resolve('gh', principal('a'), { signal: controller.signal });
    const patient = resolver.resolve('gh', principal('a'));
    controller.abort(new Error('caller deadline'));
    await expect(abandoned).rejects.toThrow('caller deadline');
    open();
    expect((await patient).value).toBe('k');
    expect(backend.reads).toHaveLength(1);
  });

  it('rejects unknown credentials with internal_error', async () => {
    const { resolver } = setup({});
    expect(await codeOf(resolver.resolve('nope', principal('a')))).toBe('internal_error');
  });
});
