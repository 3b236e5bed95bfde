/** probeBackends (`keyward check --probe`) against the Vault and AWS emulators: actionable, secret-free messages. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../../../src/core/clock.js';
import { configSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { probeBackends } from '../../../src/secrets/probe.js';
import { VaultEmulator } from '../../emulators/vault-emulator.js';
import { AwsSmEmulator } from '../../emulators/aws-sm-emulator.js';

const vault = new VaultEmulator();
const sealedVault = new VaultEmulator();
const aws = new AwsSmEmulator();
const dir = mkdtempSync(path.join(tmpdir(), 'kw-probe-'));

function file(name: string, value: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, value);
  chmodSync(f, 0o600);
  return f;
}

beforeAll(async () => {
  await Promise.all([vault.start(), sealedVault.start(), aws.start()]);
  sealedVault.sealed = true;
  vault.addAppRole({ roleId: 'role', secretId: 'good', allow: ['secret/data/ok/'] });
  vault.putKv('ok/github', { value: 'probe-canary-vault' });
  vault.putKv('denied/other', { value: 'probe-canary-denied' });
  aws.create('ok/openai', 'probe-canary-aws');
});

afterAll(async () => {
  await Promise.all([vault.stop(), sealedVault.stop(), aws.stop()]);
});

const inject = { type: 'bearer' };
const origins = ['https://api.example.com'];

describe('probeBackends', () => {
  it('reports each backend with what works and what to fix', async () => {
    process.env['KW_PROBE_AKID'] = 'AKIA';
    const config = configSchema.parse({
      backends: {
        good: {
          type: 'vault',
          address: vault.url,
          auth: {
            method: 'approle',
            roleId: { file: file('role', 'role') },
            secretId: { file: file('sid', 'good') },
          },
        },
        badrole: {
          type: 'vault',
          address: vault.url,
          auth: {
            method: 'approle',
            roleId: { file: file('role2', 'role') },
            secretId: { file: file('sid2', 'wrong') },
          },
        },
        sealed: {
          type: 'vault',
          address: sealedVault.url,
          auth: { method: 'token', token: { file: file('tok', sealedVault.rootToken) } },
        },
        nowhere: {
          type: 'vault',
          address: 'http://127.0.0.1:1',
          auth: { method: 'token', token: { file: file('tok2', 'x') } },
          timeoutMs: 300,
        },
        loose: {
          type: 'vault',
          address: vault.url,
          auth: { method: 'token', token: { env: 'KW_PROBE_UNSET_TOKEN' } },
        },
        aws: {
          type: 'aws-secrets-manager',
          region: 'us-east-1',
          endpoint: aws.url,
          credentials: { accessKeyId: { env: 'KW_PROBE_AKID' }, secretAccessKey: { file: file('sak', 'k') } },
        },
      },
      credentials: {
        github: { backend: 'good', ref: 'ok/github', inject, origins },
        other: { backend: 'good', ref: 'denied/other', inject, origins },
        perTenant: { backend: 'good', ref: 'tenants/{tenant}/x', inject, origins },
        openai: { backend: 'aws', ref: 'ok/openai', inject, origins },
        missing: { backend: 'aws', ref: 'ok/missing', inject, origins },
      },
    });
    const results = await probeBackends(config, { logger: silentLogger(), clock: systemClock, baseDir: dir });
    const by = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(by['good']?.ok).toBe(false);
    expect(by['good']?.message).toMatch(/approle login works/);
    expect(by['good']?.message).toMatch(/1\/2 fixed credentials readable/);
    expect(by['good']?.message).toMatch(/credential "other": no permission.*Vault policy/);
    expect(by['good']?.message).toMatch(/1 per-tenant\/agent/);
    expect(by['badrole']).toMatchObject({ ok: false, kind: 'vault' });
    expect(by['badrole']?.message).toMatch(/AppRole login refused/);
    expect(by['sealed']?.message).toMatch(/sealed/);
    expect(by['nowhere']?.message).toMatch(/cannot reach Vault/);
    expect(by['loose']?.message).toMatch(/KW_PROBE_UNSET_TOKEN/);
    expect(by['aws']?.ok).toBe(false);
    expect(by['aws']?.message).toMatch(/credential "missing": not found/);
    expect(JSON.stringify(results)).not.toMatch(/probe-canary/);
  });
});
