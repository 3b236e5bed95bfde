/**
 * The SecretBackend contract: every backend (file, env, Vault, AWS Secrets Manager) runs through
 * the same cases, directly and through the CredentialResolver (cache, single-flight, tenant
 * templating, stale window). Vault and AWS use their real clients against the emulators; reads are
 * counted at the emulator where one exists.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import { KeywardError } from '../../src/core/errors.js';
import type { Principal } from '../../src/core/types.js';
import { awsBackendSchema, credentialSchema, vaultBackendSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/observability/logger.js';
import { MemoryCache } from '../../src/cache/memory/memory-cache.js';
import { CredentialResolver } from '../../src/secrets/credential-resolver.js';
import { withResilience } from '../../src/secrets/resilient-backend.js';
import type { SecretBackend } from '../../src/secrets/secret-backend.js';
import { EnvBackend, envVarName } from '../../src/secrets/env/env-backend.js';
import { FileBackend, createFileStore } from '../../src/secrets/file/file-backend.js';
import { VaultBackend } from '../../src/secrets/vault/vault-backend.js';
import { AwsSecretsManagerBackend } from '../../src/secrets/aws/aws-backend.js';
import { VaultEmulator } from '../emulators/vault-emulator.js';
import { AwsSmEmulator } from '../emulators/aws-sm-emulator.js';

/** A random value that must never appear in an error message or detail. */
function canary(label: string): string {
  return `canary-${label}-${randomBytes(8).toString('hex')}`;
}

interface Harness {
  readonly backend: SecretBackend;
  /** Stores a value (string, or JSON object of fields) in the backing store. */
  seed(ref: string, value: string | Record<string, string>): Promise<void>;
  /** Backend reads of `ref` counted at the store (emulator), or undefined when it has no counter. */
  storeReads(ref: string): number | undefined;
  /** Makes `ref` revoked at the store (soft-deleted KV version, secret marked for deletion). */
  revoke?(ref: string): Promise<void>;
  /** Availability faults the store can inject; each returns an undo. */
  faults?: Record<string, () => () => void>;
  /** Makes the store never answer; returns an undo. */
  hang?(): () => void;
  close(): Promise<void>;
}

interface HarnessSpec {
  readonly name: string;
  readonly writable: boolean;
  readonly versions: boolean;
  create(clock: ManualClock, dir: string): Promise<Harness>;
}

function secretFile(dir: string, name: string, value: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, value);
  chmodSync(f, 0o600);
  return f;
}

const SPECS: HarnessSpec[] = [
  {
    name: 'file',
    writable: true,
    versions: true,
    async create(clock, dir) {
      const store = { path: path.join(dir, 'secrets.enc'), keyPath: path.join(dir, 'master.key') };
      await createFileStore(store);
      const backend = await FileBackend.open({ ...store, clock, logger: silentLogger() });
      return {
        backend,
        async seed(ref, value) {
          await backend.set(ref, typeof value === 'string' ? value : JSON.stringify(value));
        },
        storeReads: () => undefined,
        close: () => backend.close(),
      };
    },
  },
  {
    name: 'env',
    writable: false,
    versions: false,
    async create() {
      const env: NodeJS.ProcessEnv = {};
      const backend = new EnvBackend('KWT_', silentLogger(), env);
      return {
        backend,
        async seed(ref, value) {
          env[envVarName('KWT_', ref)] = typeof value === 'string' ? value : JSON.stringify(value);
        },
        storeReads: () => undefined,
        close: () => backend.close(),
      };
    },
  },
  {
    name: 'vault',
    writable: true,
    versions: true,
    async create(clock, dir) {
      const vault = new VaultEmulator({ clock });
      await vault.start();
      const config = vaultBackendSchema.parse({
        type: 'vault',
        address: vault.url,
        auth: { method: 'token', token: { file: secretFile(dir, 'vault-token', vault.rootToken) } },
        dynamicMounts: ['database/creds'],
        timeoutMs: 300,
      });
      const backend = new VaultBackend('vault', config, { logger: silentLogger(), clock, baseDir: dir });
      return {
        backend,
        async seed(ref, value) {
          vault.putKv(ref, typeof value === 'string' ? { value } : value);
        },
        storeReads: (ref) => vault.count(`/v1/secret/data/${ref}`),
        async revoke(ref) {
          vault.deleteKv(ref, { destroy: true });
        },
        faults: {
          sealed: () => {
            vault.sealed = true;
            return () => (vault.sealed = false);
          },
          'rate limited (429)': () => {
            vault.rateLimited = true;
            return () => (vault.rateLimited = false);
          },
          '500': () => {
            vault.fail500 = true;
            return () => (vault.fail500 = false);
          },
        },
        hang() {
          vault.hang = true;
          return () => (vault.hang = false);
        },
        async close() {
          await backend.close();
          await vault.stop();
        },
      };
    },
  },
  {
    name: 'aws',
    writable: true,
    versions: true,
    async create(_clock, dir) {
      const aws = new AwsSmEmulator();
      await aws.start();
      process.env['KWT_AWS_AKID'] = 'AKIACONTRACT';
      const config = awsBackendSchema.parse({
        type: 'aws-secrets-manager',
        region: 'us-east-1',
        endpoint: aws.url,
        credentials: {
          accessKeyId: { env: 'KWT_AWS_AKID' },
          secretAccessKey: { file: secretFile(dir, 'aws-key', 'contract-secret-key') },
        },
        timeoutMs: 300,
      });
      const backend = new AwsSecretsManagerBackend('aws', config, {
        logger: silentLogger(),
        clock: new ManualClock(),
        baseDir: dir,
      });
      return {
        backend,
        async seed(ref, value) {
          const text = typeof value === 'string' ? value : JSON.stringify(value);
          if (aws.versionIdOf(ref, 'AWSCURRENT') === undefined) aws.create(ref, text);
          else await backend.rotate(ref, text);
        },
        storeReads: (ref) => aws.count('GetSecretValue', ref),
        async revoke(ref) {
          aws.markForDeletion(ref);
        },
        faults: {
          throttling: () => {
            aws.throttle = true;
            return () => (aws.throttle = false);
          },
          '500': () => {
            aws.fail500 = true;
            return () => (aws.fail500 = false);
          },
          'non-JSON': () => {
            aws.nonJson = true;
            return () => (aws.nonJson = false);
          },
        },
        hang() {
          aws.hang = true;
          return () => (aws.hang = false);
        },
        async close() {
          await backend.close();
          await aws.stop();
        },
      };
    },
  },
];

function principal(tenant: string, agent = 'agent-1'): Principal {
  return { agent, tenant, roles: [], attributes: {}, authMethod: 'stdio' };
}

async function failure(p: Promise<unknown>): Promise<KeywardError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return error as KeywardError;
  }
  throw new Error('expected a failure');
}

/** Asserts that nothing an agent or a log line could see carries a secret or the ref. */
function expectClean(error: KeywardError, forbidden: string[]): void {
  const visible = `${error.message} ${error.detail ?? ''}`;
  for (const f of forbidden) expect(visible).not.toContain(f);
}

for (const spec of SPECS) {
  describe(`SecretBackend contract: ${spec.name}`, () => {
    let clock: ManualClock;
    let dir: string;
    let h: Harness;

    beforeEach(async () => {
      clock = new ManualClock(Date.now());
      dir = mkdtempSync(path.join(tmpdir(), `kw-contract-${spec.name}-`));
      h = await spec.create(clock, dir);
    });

    afterEach(async () => {
      await h.close();
    });

    function resolverFor(
      ref: string,
      extra: { field?: string; cacheTtlSeconds?: number } = {},
    ): CredentialResolver {
      const credential = credentialSchema.parse({
        backend: spec.name,
        ref,
        inject: { type: 'bearer' },
        origins: ['https://api.example.com'],
        cacheTtlSeconds: extra.cacheTtlSeconds ?? 60,
        ...(extra.field !== undefined ? { field: extra.field } : {}),
      });
      return new CredentialResolver({
        credentials: { api: credential },
        backends: new Map([[spec.name, h.backend]]),
        staleSeconds: { [spec.name]: 30 },
        cache: new MemoryCache(1000, clock),
        clock,
        logger: silentLogger(),
      });
    }

    it('reads a value with a version and a keyId that do not contain it', async () => {
      const value = canary('read');
      await h.seed('contract/plain', value);
      const s = await h.backend.get({ ref: 'contract/plain' });
      expect(s.value).toBe(value);
      expect(s.version).not.toBe('');
      expect(s.keyId).not.toContain(value);
      expect(s.version).not.toContain(value);
    });

    it('selects a field of a structured secret; a missing field is credential_not_found', async () => {
      const password = canary('password');
      await h.seed('contract/structured', { username: 'svc-bot', password });
      const s = await h.backend.get({ ref: 'contract/structured', field: 'password' });
      expect(s.value).toBe(password);
      expect(s.fields?.['username']).toBe('svc-bot');
      const e = await failure(h.backend.get({ ref: 'contract/structured', field: 'nope' }));
      expect(e.code).toBe('credential_not_found');
      expectClean(e, [password, 'svc-bot']);
    });

    it('a missing secret is credential_not_found without the ref in the message', async () => {
      const e = await failure(h.backend.get({ ref: 'contract/does-not-exist' }));
      expect(e.code).toBe('credential_not_found');
      expect(e.message).not.toContain('does-not-exist');
    });

    it.runIf(spec.versions)('keeps versions: the latest by default, an older one when pinned', async () => {
      const v1 = canary('v1');
      const v2 = canary('v2');
      await h.seed('contract/versioned', v1);
      const first = await h.backend.get({ ref: 'contract/versioned' });
      await h.backend.rotate?.('contract/versioned', v2);
      const latest = await h.backend.get({ ref: 'contract/versioned' });
      expect(latest.value).toBe(v2);
      expect(latest.version).not.toBe(first.version);
      expect((await h.backend.get({ ref: 'contract/versioned', version: first.version })).value).toBe(v1);
    });

    it.runIf(spec.writable)(
      'rotation without restart: cached copies are dropped, and the re-fetch after a 401 gets the new value',
      async () => {
        const oldValue = canary('old');
        const newValue = canary('new');
        await h.seed('contract/rotating', oldValue);
        const resolver = resolverFor('contract/rotating');
        const before = await resolver.resolve('api', principal('acme'));
        expect(before.value).toBe(oldValue);
        await h.backend.rotate?.('contract/rotating', newValue);
        // The pipeline's one re-fetch after the upstream rejected the old value.
        const after = await resolver.resolve('api', principal('acme'), {
          forceRefresh: true,
          rejectedVersion: before.version,
        });
        expect(after.value).toBe(newValue);
        // And the plain path no longer serves the old value (onChange invalidation or the refresh).
        expect((await resolver.resolve('api', principal('acme'))).value).toBe(newValue);
        await resolver.close();
      },
    );

    it.runIf(spec.name !== 'env')('revoked or removed: never served again, not even stale', async () => {
      const value = canary('revoked');
      await h.seed('contract/revoked', value);
      const resolver = resolverFor('contract/revoked');
      const first = await resolver.resolve('api', principal('acme'));
      if (h.revoke) await h.revoke('contract/revoked');
      else await h.backend.remove?.('contract/revoked');
      const e = await failure(
        resolver.resolve('api', principal('acme'), { forceRefresh: true, rejectedVersion: first.version }),
      );
      expect(e.code).toBe(h.revoke ? 'credential_revoked' : 'credential_not_found');
      expectClean(e, [value]);
      const again = await failure(resolver.resolve('api', principal('acme')));
      expect(again.code).toBe(e.code);
      await resolver.close();
    });

    it('500 concurrent resolves on a cold cache make exactly one backend read per key', async () => {
      await h.seed('tenants/t1/api', canary('t1'));
      await h.seed('tenants/t2/api', canary('t2'));
      let gets = 0;
      const counting: SecretBackend = Object.assign(Object.create(h.backend) as SecretBackend, {
        get: (...args: Parameters<SecretBackend['get']>) => {
          gets += 1;
          return h.backend.get(...args);
        },
      });
      const resolver = new CredentialResolver({
        credentials: {
          api: credentialSchema.parse({
            backend: spec.name,
            ref: 'tenants/{tenant}/api',
            inject: { type: 'bearer' },
            origins: ['https://api.example.com'],
          }),
        },
        backends: new Map([[spec.name, counting]]),
        cache: new MemoryCache(1000, clock),
        clock,
        logger: silentLogger(),
      });
      const before1 = h.storeReads('tenants/t1/api');
      const before2 = h.storeReads('tenants/t2/api');
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => resolver.resolve('api', principal(i % 2 === 0 ? 't1' : 't2'))),
      );
      expect(new Set(results.map((r) => r.value)).size).toBe(2);
      expect(gets).toBe(2);
      if (before1 !== undefined && before2 !== undefined) {
        expect((h.storeReads('tenants/t1/api') ?? 0) - before1).toBe(1);
        expect((h.storeReads('tenants/t2/api') ?? 0) - before2).toBe(1);
      }
      await resolver.close();
    });

    it("tenant isolation: A's principal never reads B's path; a missing tenant secret reveals nothing", async () => {
      const a = canary('tenant-a');
      const b = canary('tenant-b');
      await h.seed('tenants/a/api', a);
      await h.seed('tenants/b/api', b);
      const resolver = resolverFor('tenants/{tenant}/api');
      const readsOfB = h.storeReads('tenants/b/api');
      expect((await resolver.resolve('api', principal('a'))).value).toBe(a);
      const traversal = await failure(resolver.resolve('api', principal('../b')));
      expect(traversal.code).toBe('credential_not_found');
      const missing = await failure(resolver.resolve('api', principal('c')));
      expect(missing.code).toBe('credential_not_found');
      expectClean(missing, [a, b, 'tenants/b']);
      expect(missing.message).not.toMatch(/tenants\/[ab]/);
      if (readsOfB !== undefined) expect(h.storeReads('tenants/b/api')).toBe(readsOfB);
      await resolver.close();
    });

    if (spec.name === 'vault' || spec.name === 'aws') {
      it('unavailable: each fault is secret_backend_unavailable with a retry hint; stale only inside the window', async () => {
        const value = canary('avail');
        await h.seed('contract/avail', value);
        for (const [fault, inject] of Object.entries(h.faults ?? {})) {
          const undo = inject();
          const e = await failure(h.backend.get({ ref: 'contract/avail' }));
          expect(e.code, fault).toBe('secret_backend_unavailable');
          expect(e.retryAfterSeconds, fault).toBeGreaterThan(0);
          expectClean(e, [value, 'contract/avail']);
          undo();
        }
        const resolver = resolverFor('contract/avail', { cacheTtlSeconds: 10 });
        expect((await resolver.resolve('api', principal('acme'))).value).toBe(value);
        const undo = Object.values(h.faults ?? {})[0]?.() ?? (() => undefined);
        clock.advance(15_000); // past the 10 s TTL, inside the 30 s stale window
        expect((await resolver.resolve('api', principal('acme'))).value).toBe(value);
        clock.advance(30_000); // past the stale window
        const late = await failure(resolver.resolve('api', principal('acme')));
        expect(late.code).toBe('secret_backend_unavailable');
        undo();
        expect((await resolver.resolve('api', principal('acme'))).value).toBe(value);
        await resolver.close();
      });

      it('a hung backend fails at its explicit timeout', async () => {
        await h.seed('contract/hang', canary('hang'));
        const undo = h.hang?.() ?? (() => undefined);
        const e = await failure(h.backend.get({ ref: 'contract/hang' }));
        expect(e.code).toBe('secret_backend_unavailable');
        undo();
      });
    }
  });
}

describe('backend-specific contract cases', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kw-contract-x-'));
  });

  it('Vault: a lease that expires mid-task is renewed or re-issued without a failed call', async () => {
    const clock = new ManualClock(Date.now());
    const vault = new VaultEmulator({ clock });
    await vault.start();
    vault.addDynamicRole('database/creds/app', { ttlSeconds: 60, maxTtlSeconds: 90 });
    const backend = new VaultBackend(
      'vault',
      vaultBackendSchema.parse({
        type: 'vault',
        address: vault.url,
        auth: { method: 'token', token: { file: secretFile(dir, 't', vault.rootToken) } },
        dynamicMounts: ['database/creds'],
      }),
      { logger: silentLogger(), clock, baseDir: dir },
    );
    const resolver = new CredentialResolver({
      credentials: {
        db: credentialSchema.parse({
          backend: 'vault',
          ref: 'database/creds/app',
          field: 'password',
          inject: { type: 'bearer' },
          origins: ['https://db.example.com'],
          cacheTtlSeconds: 300,
        }),
      },
      backends: new Map([['vault', backend]]),
      cache: new MemoryCache(100, clock),
      clock,
      logger: silentLogger(),
    });
    const seen = new Set<string>();
    for (let t = 0; t < 20; t += 1) {
      const s = await resolver.resolve('db', principal('acme'));
      expect(s.expiresAt).toBeGreaterThan(clock.now());
      expect(vault.liveLeases()).toContain(s.leaseId);
      seen.add(s.leaseId as string);
      clock.advance(10_000);
    }
    expect(seen.size).toBeGreaterThan(1); // max TTL forced re-issues
    await resolver.close();
    await backend.close();
    expect(vault.liveLeases()).toEqual([]);
    await vault.stop();
  });

  it('Vault: a sealed Vault gives secret_backend_unavailable with a retry hint; calls succeed again after unseal', async () => {
    const clock = new ManualClock(Date.now());
    const vault = new VaultEmulator({ clock });
    await vault.start();
    vault.putKv('app', { value: 'unseal-canary' });
    const config = vaultBackendSchema.parse({
      type: 'vault',
      address: vault.url,
      auth: { method: 'token', token: { file: secretFile(dir, 't', vault.rootToken) } },
      retries: 1,
    });
    const backend = withResilience(
      new VaultBackend('vault', config, { logger: silentLogger(), clock, baseDir: dir }),
      config,
      { logger: silentLogger(), clock, name: 'vault' },
      { initialDelayMs: 1, maxDelayMs: 5 },
    );
    vault.sealed = true;
    const e = await failure(backend.get({ ref: 'app' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.retryAfterSeconds).toBeGreaterThan(0);
    vault.sealed = false;
    expect((await backend.get({ ref: 'app' })).value).toBe('unseal-canary');
    await backend.close();
    await vault.stop();
  });

  it('AWS: throttling is retried with backoff; AccessDenied is credential_invalid at once with no retry', async () => {
    const aws = new AwsSmEmulator();
    await aws.start();
    aws.create('app', 'aws-canary');
    process.env['KWT_AWS_AKID'] = 'AKIACONTRACT';
    const config = awsBackendSchema.parse({
      type: 'aws-secrets-manager',
      region: 'us-east-1',
      endpoint: aws.url,
      credentials: {
        accessKeyId: { env: 'KWT_AWS_AKID' },
        secretAccessKey: { file: secretFile(dir, 'k', 'key') },
      },
      retries: 2,
    });
    const backend = withResilience(
      new AwsSecretsManagerBackend('aws', config, {
        logger: silentLogger(),
        clock: new ManualClock(),
        baseDir: dir,
      }),
      config,
      { logger: silentLogger(), name: 'aws' },
      { initialDelayMs: 1, maxDelayMs: 5 },
    );
    aws.throttle = true;
    const throttled = await failure(backend.get({ ref: 'app' }));
    expect(throttled.code).toBe('secret_backend_unavailable');
    expect(aws.count('GetSecretValue', 'app')).toBe(3);
    aws.throttle = false;
    aws.resetCounters();
    aws.deniedSecrets.add('app');
    const denied = await failure(backend.get({ ref: 'app' }));
    expect(denied.code).toBe('credential_invalid');
    expect(aws.count('GetSecretValue', 'app')).toBe(1);
    expectClean(denied, ['aws-canary', 'arn:', '123456789012']);
    await backend.close();
    await aws.stop();
  });

  it('AWS: rotate with trigger calls RotateSecret; the re-fetch after a 401 tries AWSPENDING while it is in flight', async () => {
    const aws = new AwsSmEmulator();
    await aws.start();
    aws.create('app', 'before-rotation');
    aws.rotator = () => 'pending-rotation';
    process.env['KWT_AWS_AKID'] = 'AKIACONTRACT';
    const backend = new AwsSecretsManagerBackend(
      'aws',
      awsBackendSchema.parse({
        type: 'aws-secrets-manager',
        region: 'us-east-1',
        endpoint: aws.url,
        credentials: {
          accessKeyId: { env: 'KWT_AWS_AKID' },
          secretAccessKey: { file: secretFile(dir, 'k', 'key') },
        },
      }),
      { logger: silentLogger(), clock: new ManualClock(), baseDir: dir },
    );
    const clock = new ManualClock(Date.now());
    const resolver = new CredentialResolver({
      credentials: {
        api: credentialSchema.parse({
          backend: 'aws',
          ref: 'app',
          inject: { type: 'bearer' },
          origins: ['https://api.example.com'],
        }),
      },
      backends: new Map([['aws', backend]]),
      cache: new MemoryCache(100, clock),
      clock,
      logger: silentLogger(),
    });
    const before = await resolver.resolve('api', principal('acme'));
    const { version } = await backend.rotate('app', undefined, { trigger: true });
    expect(aws.count('RotateSecret')).toBe(1);
    const retried = await resolver.resolve('api', principal('acme'), {
      forceRefresh: true,
      rejectedVersion: before.version,
    });
    expect([retried.value, retried.version]).toEqual(['pending-rotation', version]);
    await resolver.close();
    await backend.close();
    await aws.stop();
  });
});
