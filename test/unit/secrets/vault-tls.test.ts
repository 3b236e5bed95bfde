/** Vault TLS options (caFile, rejectUnauthorized) against the emulator serving HTTPS with a throwaway self-signed cert. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../../../src/core/clock.js';
import { KeywardError } from '../../../src/core/errors.js';
import { vaultBackendSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { VaultBackend } from '../../../src/secrets/vault/vault-backend.js';
import { VaultEmulator } from '../../emulators/vault-emulator.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kw-vault-tls-'));
const keyFile = path.join(dir, 'key.pem');
const certFile = path.join(dir, 'cert.pem');
let vault: VaultEmulator;

beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  vault = new VaultEmulator({ tls: { key: readFileSync(keyFile), cert: readFileSync(certFile) } });
  await vault.start();
  vault.putKv('tls/app', { value: 'over-tls' });
});

afterAll(async () => {
  await vault.stop();
});

function backend(tls: Record<string, unknown> | undefined): VaultBackend {
  const token = path.join(dir, 'token');
  writeFileSync(token, vault.rootToken);
  chmodSync(token, 0o600);
  return new VaultBackend(
    'vault',
    vaultBackendSchema.parse({
      type: 'vault',
      address: vault.url,
      auth: { method: 'token', token: { file: token } },
      ...(tls ? { tls } : {}),
    }),
    { logger: silentLogger(), clock: systemClock, baseDir: dir },
  );
}

describe('Vault TLS', () => {
  it('trusts the configured CA file', async () => {
    const b = backend({ caFile: certFile });
    expect(vault.url).toMatch(/^https:/);
    expect((await b.get({ ref: 'tls/app' })).value).toBe('over-tls');
    await b.close();
  });

  it('refuses an unknown certificate by default, and the probe names the cause', async () => {
    const b = backend(undefined);
    const error = await b.get({ ref: 'tls/app' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeywardError);
    expect((error as KeywardError).code).toBe('secret_backend_unavailable');
    expect((await b.probe()).message).toMatch(/SELF_SIGNED|cannot reach Vault/);
    await b.close();
  });

  it('rejectUnauthorized: false skips verification (development only)', async () => {
    const b = backend({ rejectUnauthorized: false });
    expect((await b.get({ ref: 'tls/app' })).value).toBe('over-tls');
    await b.close();
  });
});
