// Tests of the env backend, ref templates and the secret backend registry.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { EnvBackend, envVarName } from '../../../src/secrets/env/env-backend.js';
import { createFileStore } from '../../../src/secrets/file/file-backend.js';
import { compileRefTemplate, isSafeSegment } from '../../../src/secrets/ref-template.js';
import { createSecretBackend, createSecretBackends } from '../../../src/secrets/registry.js';

describe('EnvBackend', () => {
  it('maps refs to PREFIX + REF_UPPER, selects fields and warns exactly once', async () => {
    expect(envVarName('KEYWARD_SECRET_', 'tenants/acme-co/github.token')).toBe(
      'KEYWARD_SECRET_TENANTS_ACME_CO_GITHUB_TOKEN',
    );
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const env = { KEYWARD_SECRET_GITHUB: 'ghp_x', KEYWARD_SECRET_BASIC: '{"username":"u","password":"p"}' };
    const b = new EnvBackend('KEYWARD_SECRET_', logger, env);
    expect(await b.get({ ref: 'github' })).toMatchObject({
      value: 'ghp_x',
      keyId: 'env:KEYWARD_SECRET_GITHUB',
    });
    expect((await b.get({ ref: 'basic', field: 'password' })).value).toBe('p');
    await expect(b.get({ ref: 'missing' })).rejects.toMatchObject({ code: 'credential_not_found' });
    expect(lines.filter((l) => l.includes('development only'))).toHaveLength(1);
    expect(lines.join('')).not.toContain('ghp_x');
  });
});

describe('ref templates', () => {
  it('expands from the principal and rejects unsafe segments', () => {
    const t = compileRefTemplate('tenants/{tenant}/agents/{agent}');
    expect(t.templated).toBe(true);
    expect(t.expand({ tenant: 'acme', agent: 'ci@x' })).toBe('tenants/acme/agents/ci@x');
    expect(() => t.expand({ tenant: '../etc', agent: 'a' })).toThrow(/no credential for this tenant/);
    expect(compileRefTemplate('github').expand({ tenant: '..', agent: '..' })).toBe('github');
    expect(['.', '..', 'a/b', 'a b', ''].some(isSafeSegment)).toBe(false);
    expect(isSafeSegment('a.b-c_d@e')).toBe(true);
  });
});

describe('secret backend registry', () => {
  it('opens file and env backends, wraps them, and refuses a missing key file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kw-reg-'));
    try {
      await createFileStore({ path: path.join(dir, 's.enc'), keyPath: path.join(dir, 'k.key') });
      const deps = { logger: silentLogger(), clock: new ManualClock(), baseDir: dir };
      const common = { timeoutMs: 1000, retries: 1, staleSeconds: 7 };
      const backends = await createSecretBackends(
        {
          local: { type: 'file', path: 's.enc', keyPath: 'k.key', createIfMissing: false, ...common },
          dev: { type: 'env', prefix: 'X_', ...common },
        },
        deps,
      );
      expect(backends.get('local')?.kind).toBe('file');
      expect(backends.get('local')?.staleSeconds).toBe(7);
      expect(backends.get('dev')?.kind).toBe('env');
      await backends.get('local')?.set?.('github', 'v');
      expect((await backends.get('local')?.get({ ref: 'github' }))?.value).toBe('v');
      await Promise.all([...backends.values()].map((b) => b.close()));

      await expect(
        createSecretBackend(
          'local',
          { type: 'file', path: 'nope.enc', keyPath: 'nope.key', createIfMissing: false, ...common },
          deps,
        ),
      ).rejects.toThrow(/keyward init/);

      // createIfMissing makes a first start work, with a private key and an empty store.
      const created = await createSecretBackend(
        'local',
        { type: 'file', path: 'new/s.enc', keyPath: 'new/k.key', createIfMissing: true, ...common },
        deps,
      );
      expect(statSync(path.join(dir, 'new/k.key')).mode & 0o777).toBe(0o600);
      await expect(created.get({ ref: 'github' })).rejects.toThrow();
      await created.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
