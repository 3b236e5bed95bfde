// Issue 13: each plugin family owns its config schema fragment (`*-config.ts` beside the
// implementation) and config/ composes them. Loading the schema must stay cheap: the fragments
// hold zod and core/ only (lint), so the client libraries of Vault, AWS, Redis, PostgreSQL and
// remote mode are still loaded only by their registry's import(), when configured.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/config/defaults.js';
import { parseConfig } from '../../../src/config/load.js';
import { VAULT_BACKEND_DEFAULTS } from '../../../src/secrets/vault/vault-config.js';
import { REDIS_CACHE_DEFAULTS } from '../../../src/cache/redis/redis-config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LAZY = ['node-vault', '@aws-sdk', 'ioredis', 'pg', 'jose', 'openid-client', 'express', 'prom-client'];

describe('the config schema, composed from the families’ fragments', () => {
  it('loads no client library of a lazily loaded implementation', () => {
    const recorder = path.join(root, 'test/fixtures/record-resolved.mjs');
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        recorder,
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(path.join(root, 'src/config/load.ts'))});
         await import(${JSON.stringify(path.join(root, 'src/config/json-schema.ts'))});`,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(child.status, child.stderr).toBe(0);
    const packages = new Set(
      [...child.stderr.matchAll(/^resolved .*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map(
        (m) => m[1] ?? '',
      ),
    );
    expect(packages).toContain('zod'); // the recorder works
    const loaded = [...packages].filter((p) => LAZY.some((lazy) => p === lazy || p.startsWith(`${lazy}/`)));
    expect(loaded).toEqual([]);
  });

  it('states each kind’s defaults once, in its fragment, and DEFAULTS refers to them', () => {
    expect(DEFAULTS.vault).toBe(VAULT_BACKEND_DEFAULTS);
    expect(DEFAULTS.cache.redis).toBe(REDIS_CACHE_DEFAULTS);
    const { config } = parseConfig({
      backends: {
        v: { type: 'vault', address: 'https://vault:8200', auth: { method: 'token', token: { env: 'T' } } },
      },
      cache: { type: 'redis', url: 'redis://127.0.0.1:6379' },
    });
    const vault = config.backends.v;
    expect(vault?.type === 'vault' && vault.mount).toBe(VAULT_BACKEND_DEFAULTS.mount);
    expect(config.cache.type === 'redis' && config.cache.keyPrefix).toBe(REDIS_CACHE_DEFAULTS.keyPrefix);
  });
});
