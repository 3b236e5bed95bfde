/** readSecretSource: bootstrap values (Vault token, AppRole ids, AWS keys) from files or env, never literals. */
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../src/core/errors.js';
import { readSecretSource } from '../../../src/secrets/bootstrap-value.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kw-boot-'));

describe('readSecretSource', () => {
  it('reads a 0600 file relative to baseDir, trimmed', () => {
    writeFileSync(path.join(dir, 'ok'), 's.token-value\n');
    chmodSync(path.join(dir, 'ok'), 0o600);
    expect(readSecretSource({ file: 'ok' }, dir)).toBe('s.token-value');
  });

  it('refuses a group- or other-readable file without echoing its content', () => {
    const file = path.join(dir, 'open');
    writeFileSync(file, 'leaky-value');
    chmodSync(file, 0o644);
    expect(() => readSecretSource({ file }, dir)).toThrow(ConfigError);
    try {
      readSecretSource({ file }, dir);
    } catch (error) {
      expect((error as Error).message).toMatch(/chmod 600/);
      expect((error as Error).message).not.toContain('leaky-value');
    }
  });

  it('reads an env var and refuses a missing or empty one', () => {
    process.env['KW_TEST_BOOT'] = 'from-env';
    expect(readSecretSource({ env: 'KW_TEST_BOOT' }, dir)).toBe('from-env');
    process.env['KW_TEST_BOOT'] = '';
    expect(() => readSecretSource({ env: 'KW_TEST_BOOT' }, dir)).toThrow(/KW_TEST_BOOT/);
    delete process.env['KW_TEST_BOOT'];
    expect(() => readSecretSource({ env: 'KW_TEST_BOOT' }, dir)).toThrow(ConfigError);
  });

  it('reports a missing file by path', () => {
    expect(() => readSecretSource({ file: 'missing' }, dir)).toThrow(/ENOENT/);
  });
});
