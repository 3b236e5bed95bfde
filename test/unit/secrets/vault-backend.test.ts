/** Vault backend against the Vault emulator over real sockets, with the real node-vault client. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/core/clock.js';
import { KeywardError } from '../../../src/core/errors.js';
import { vaultBackendSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { VaultBackend } from '../../../src/secrets/vault/vault-backend.js';
import { VaultEmulator } from '../../emulators/vault-emulator.js';

let clock: ManualClock;
let vault: VaultEmulator;
let dir: string;
const open: VaultBackend[] = [];

function secretFile(name: string, value: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${value}\n`);
  chmodSync(file, 0o600);
  return file;
}

function backend(extra: Record<string, unknown> = {}): VaultBackend {
  const config = vaultBackendSchema.parse({
    type: 'vault',
    address: vault.url,
    auth: { method: 'token', token: { file: secretFile('token', vault.rootToken) } },
    timeoutMs: 500,
    ...extra,
  });
  const b = new VaultBackend('vault', config, { logger: silentLogger(), clock, baseDir: dir });
  open.push(b);
  return b;
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

beforeEach(async () => {
  clock = new ManualClock(Date.now());
  vault = new VaultEmulator({ clock });
  await vault.start();
  dir = mkdtempSync(path.join(tmpdir(), 'kw-vault-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  await vault.stop();
});

describe('KV v2 reads', () => {
  it('reads the value key by default, a named field, the only key, and exposes custom_metadata', async () => {
    vault.putKv('apps/github', { value: 'ghp_one', owner: 'ops' });
    vault.putKv('apps/single', { token: 'only-one' });
    vault.setKvMetadata('apps/github', { customMetadata: { team: 'platform' } });
    const b = backend();
    const s = await b.get({ ref: 'apps/github' });
    expect(s.value).toBe('ghp_one');
    expect(s.version).toBe('1');
    expect(s.metadata).toEqual({ team: 'platform' });
    expect(s.keyId).toBe('vault:vault:secret/apps/github');
    expect((await b.get({ ref: 'apps/github', field: 'owner' })).value).toBe('ops');
    expect((await b.get({ ref: 'apps/single' })).value).toBe('only-one');
  });

  it('needs a field when the secret has several keys and none is `value`', async () => {
    vault.putKv('apps/multi', { a: '1', b: '2' });
    const e = await failure(backend().get({ ref: 'apps/multi' }));
    expect(e.code).toBe('credential_not_found');
    expect(e.message).not.toContain('apps/multi');
  });

  it('reads a pinned version and the latest after a new version', async () => {
    vault.putKv('k', { value: 'v1' });
    vault.putKv('k', { value: 'v2' });
    const b = backend();
    expect((await b.get({ ref: 'k', version: '1' })).value).toBe('v1');
    const latest = await b.get({ ref: 'k' });
    expect([latest.value, latest.version]).toEqual(['v2', '2']);
    expect(vault.count('/v1/secret/data/k')).toBe(2);
  });

  it('maps missing to not_found and soft-deleted/destroyed versions to revoked, without the path', async () => {
    vault.putKv('gone', { value: 'x1' });
    vault.putKv('gone', { value: 'x2' });
    vault.deleteKv('gone');
    vault.deleteKv('gone', { versions: [1], destroy: true });
    const b = backend();
    const missing = await failure(b.get({ ref: 'nope' }));
    expect(missing.code).toBe('credential_not_found');
    const deleted = await failure(b.get({ ref: 'gone' }));
    expect(deleted.code).toBe('credential_revoked');
    const destroyed = await failure(b.get({ ref: 'gone', version: '1' }));
    expect(destroyed.code).toBe('credential_revoked');
    for (const e of [missing, deleted, destroyed]) expect(e.message).not.toMatch(/gone|nope|x1|x2/);
  });

  it('a future deletion_time (delete_version_after) becomes expiresAt', async () => {
    vault.setKvMetadata('ttl', { deleteVersionAfter: '1h' });
    vault.putKv('ttl', { value: 'short-lived' });
    const s = await backend().get({ ref: 'ttl' });
    expect(s.expiresAt).toBe(clock.now() + 3_600_000);
  });

  it('refuses refs that could leave the mount without calling Vault', async () => {
    const b = backend();
    for (const ref of ['../sys/health', 'a/../../b', '/abs', 'a?list=1', 'a#b']) {
      expect((await failure(b.get({ ref }))).code).toBe('credential_not_found');
    }
    expect(vault.countPrefix('/v1/secret')).toBe(0);
  });

  it('sends the namespace header on every request', async () => {
    vault.requiredNamespace = 'team-a/';
    vault.putKv('ns', { value: 'in-ns' });
    const b = backend({ namespace: 'team-a/' });
    expect((await b.get({ ref: 'ns' })).value).toBe('in-ns');
    expect(vault.requests.every((r) => r.namespace === 'team-a/')).toBe(true);
  });
});

describe('errors and availability', () => {
  it('policy denial is credential_invalid', async () => {
    vault.putKv('tenants/b/key', { value: 'b-secret' });
    const limited = vault.addToken({ allow: ['secret/data/tenants/a/'] });
    const b = backend({ auth: { method: 'token', token: { file: secretFile('limited', limited) } } });
    const e = await failure(b.get({ ref: 'tenants/b/key' }));
    expect(e.code).toBe('credential_invalid');
  });

  it('sealed Vault is unavailable with a retry hint, then works after unseal', async () => {
    vault.putKv('s', { value: 'sealed-value' });
    const b = backend();
    vault.sealed = true;
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.retryAfterSeconds).toBeGreaterThan(0);
    expect(e.message).toContain('sealed');
    vault.sealed = false;
    expect((await b.get({ ref: 's' })).value).toBe('sealed-value');
  });

  it.each([
    ['rateLimited', 'rate limiting'],
    ['fail500', 'unavailable'],
    ['nonJson', 'unavailable'],
  ] as const)('%s is secret_backend_unavailable', async (sw, text) => {
    vault.putKv('s', { value: 'v' });
    const b = backend();
    await b.get({ ref: 's' });
    vault[sw] = true;
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.message).toContain(text);
  });

  it('a hung Vault fails at the explicit timeout', async () => {
    vault.putKv('s', { value: 'v' });
    const b = backend({ timeoutMs: 150 });
    await b.get({ ref: 's' });
    vault.hang = true;
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.message).toContain('in time');
  });

  it('a refused connection is unavailable', async () => {
    const b = backend();
    await vault.stop();
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    vault = new VaultEmulator({ clock });
    await vault.start();
  });
});

describe('auth', () => {
  function approle(extra: Record<string, unknown> = {}): VaultBackend {
    return backend({
      auth: {
        method: 'approle',
        roleId: { file: secretFile('role', 'role-1') },
        secretId: { file: secretFile('sid', 'sid-1') },
      },
      ...extra,
    });
  }

  it('AppRole login, renewal before expiry, re-login after expiry and after revocation', async () => {
    vault.addAppRole({ roleId: 'role-1', secretId: 'sid-1', tokenTtlSeconds: 120, tokenMaxTtlSeconds: 200 });
    vault.putKv('a', { value: 'va' });
    const b = approle();
    expect((await b.get({ ref: 'a' })).value).toBe('va');
    expect(b.auth.logins).toBe(1);
    clock.advance(100_000); // inside renewBefore (30 s) of the 120 s TTL
    expect((await b.get({ ref: 'a' })).value).toBe('va');
    expect(b.auth.renewals).toBe(1);
    expect(b.auth.logins).toBe(1);
    clock.advance(150_000); // past max TTL: the token is dead
    expect((await b.get({ ref: 'a' })).value).toBe('va');
    expect(b.auth.logins).toBe(2);
    vault.revokeToken(vault.lastIssuedToken() as string);
    expect((await b.get({ ref: 'a' })).value).toBe('va');
    expect(b.auth.logins).toBe(3);
  });

  it('a wrong secret_id is credential_invalid and the probe says so', async () => {
    vault.addAppRole({ roleId: 'role-1', secretId: 'other' });
    const b = approle();
    const e = await failure(b.get({ ref: 'a' }));
    expect(e.code).toBe('credential_invalid');
    const probe = await b.probe();
    expect(probe.ok).toBe(false);
    expect(probe.message).toMatch(/AppRole login refused/);
  });

  it('a revoked static token is credential_expired', async () => {
    const t = vault.addToken({});
    vault.putKv('a', { value: 'va' });
    const b = backend({ auth: { method: 'token', token: { file: secretFile('t', t) } } });
    await b.get({ ref: 'a' });
    vault.revokeToken(t);
    expect((await failure(b.get({ ref: 'a' }))).code).toBe('credential_expired');
  });

  it('renews a renewable static token near expiry', async () => {
    const t = vault.addToken({ ttlSeconds: 60, renewable: true });
    vault.putKv('a', { value: 'va' });
    const b = backend({ auth: { method: 'token', token: { file: secretFile('t', t) } } });
    await b.get({ ref: 'a' });
    clock.advance(45_000);
    await b.get({ ref: 'a' });
    expect(b.auth.renewals).toBe(1);
    expect(b.auth.tokenExpiresAt).toBe(clock.now() + 60_000);
  });

  it('probe reports sealed and unreachable Vaults with actionable messages', async () => {
    const b = backend();
    expect((await b.probe()).ok).toBe(true);
    vault.sealed = true;
    expect((await b.probe()).message).toMatch(/sealed: unseal it/);
    const far = backend({ address: 'http://127.0.0.1:1' });
    expect((await far.probe()).message).toMatch(/cannot reach Vault.*check backends\.vault\.address/);
  });
});

describe('rotation', () => {
  it('writes a new KV version with CAS, keeps other fields, and notifies listeners', async () => {
    vault.putKv('r', { value: 'old', username: 'bot' });
    const b = backend();
    const changed: (string | undefined)[] = [];
    b.onChange((ref) => changed.push(ref));
    expect(await b.rotate('r', 'new')).toEqual({ version: '2' });
    const s = await b.get({ ref: 'r' });
    expect([s.value, s.fields?.['username']]).toEqual(['new', 'bot']);
    expect(changed).toEqual(['r']);
    expect(await b.rotate('fresh', 'first')).toEqual({ version: '1' });
    vault.setKvMetadata('r', { casRequired: true });
    expect(await b.rotate('r', 'third')).toEqual({ version: '3' });
  });

  it('refuses trigger rotation (Vault has no rotation function)', async () => {
    const e = await failure(backend().rotate('r', undefined, { trigger: true }));
    expect(e.code).toBe('credential_invalid');
  });

  it('lists names and versions, never values', async () => {
    vault.putKv('t/a/k', { value: 'secret-a' });
    vault.putKv('t/b/k', { value: 'secret-b' });
    vault.putKv('t/b/k', { value: 'secret-b2' });
    const list = await backend().list();
    expect(list.map((s) => [s.name, s.version])).toEqual([
      ['t/a/k', '1'],
      ['t/b/k', '2'],
    ]);
    expect(JSON.stringify(list)).not.toContain('secret-');
  });
});

describe('dynamic secrets', () => {
  it('a leased read gives expiresAt, leaseId and renewable; the lease is reused, renewed, then re-issued', async () => {
    vault.addDynamicRole('database/creds/ro', { ttlSeconds: 60, maxTtlSeconds: 100 });
    const b = backend({ dynamicMounts: ['database/creds'] });
    const s1 = await b.get({ ref: 'database/creds/ro', field: 'password' });
    expect(s1.leaseId).toMatch(/^database\/creds\/ro\//);
    expect(s1.renewable).toBe(true);
    expect(s1.expiresAt).toBe(clock.now() + 60_000);
    const user = await b.get({ ref: 'database/creds/ro', field: 'username' });
    expect(user.leaseId).toBe(s1.leaseId);
    expect(vault.count('/v1/database/creds/ro')).toBe(1);
    clock.advance(45_000);
    const renewed = await b.renew(s1);
    expect(renewed?.leaseId).toBe(s1.leaseId);
    expect(renewed?.value).toBe(s1.value);
    expect(renewed?.expiresAt).toBe(clock.now() + 55_000); // capped by max TTL (100 s)
    clock.advance(40_000); // 85 s: renewal can only reach 100 s, under renewBefore: re-issue
    const reissued = await b.get({ ref: 'database/creds/ro', field: 'password' });
    expect(reissued.leaseId).not.toBe(s1.leaseId);
    expect(reissued.value).not.toBe(s1.value);
    expect(vault.count('/v1/database/creds/ro')).toBe(2);
  });

  it('re-issues a non-renewable lease and one the upstream rejected; revokes leases on close', async () => {
    vault.addDynamicRole('database/creds/nr', { ttlSeconds: 60, renewable: false });
    const b = backend({ dynamicMounts: ['database/creds'] });
    const s1 = await b.get({ ref: 'database/creds/nr', field: 'password' });
    clock.advance(40_000);
    const s2 = await b.get({ ref: 'database/creds/nr', field: 'password' });
    expect(s2.leaseId).not.toBe(s1.leaseId);
    const s3 = await b.get({ ref: 'database/creds/nr', field: 'password' }, { rejectedVersion: s2.version });
    expect(s3.leaseId).not.toBe(s2.leaseId);
    expect(vault.liveLeases().length).toBeGreaterThan(0);
    await b.close();
    expect(vault.liveLeases()).toEqual([]);
  });

  it('a lease revoked by an operator is credential_revoked once; the next read issues a new lease', async () => {
    vault.addDynamicRole('database/creds/rv', { ttlSeconds: 60 });
    const b = backend({ dynamicMounts: ['database/creds'] });
    const s1 = await b.get({ ref: 'database/creds/rv', field: 'password' });
    vault.revokeLease(s1.leaseId as string);
    clock.advance(45_000);
    const e = await failure(b.renew(s1));
    expect(e.code).toBe('credential_revoked');
    expect(e.message).not.toContain(s1.value);
    const s2 = await b.get({ ref: 'database/creds/rv', field: 'password' });
    expect(s2.leaseId).not.toBe(s1.leaseId);
  });

  it('an expired lease is re-issued', async () => {
    vault.addDynamicRole('database/creds/ex', { ttlSeconds: 60 });
    const b = backend({ dynamicMounts: ['database/creds'] });
    const s1 = await b.get({ ref: 'database/creds/ex', field: 'password' });
    clock.advance(61_000);
    const s2 = await b.get({ ref: 'database/creds/ex', field: 'password' });
    expect(s2.leaseId).not.toBe(s1.leaseId);
    expect(s2.expiresAt).toBe(clock.now() + 60_000);
  });
});
