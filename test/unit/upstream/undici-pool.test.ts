import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Undici from 'undici';
import { describe, expect, it } from 'vitest';
import { Pool } from '../../../src/upstream/undici-pool.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('undici-pool (the Pool without the rest of undici)', () => {
  it('is undici’s own Pool class', () => {
    const undici = createRequire(import.meta.url)('undici') as typeof Undici;
    expect(Pool).toBe(undici.Pool);
    expect(typeof undici.Pool.prototype.dispatch).toBe('function');
  });

  it('loads neither undici’s index (fetch, WebSocket, mocks…) nor its request API', () => {
    // A fresh process: vitest itself may have loaded undici's index already.
    const script = [
      "const { Pool } = await import('./src/upstream/undici-pool.ts');",
      "const { createRequire } = await import('node:module');",
      'const cache = createRequire(import.meta.url).cache;',
      "const loaded = Object.keys(cache).filter((f) => f.includes('/node_modules/undici/'));",
      "const pool = new Pool('http://127.0.0.1:9', { connections: 1 });",
      'console.log(JSON.stringify({ dispatch: typeof pool.dispatch, index: loaded.some((f) => f.endsWith("/undici/index.js")), api: loaded.some((f) => f.includes("/undici/lib/api/")), files: loaded.length }));',
      'await pool.close();',
    ].join('\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const seen = JSON.parse(run.stdout.trim()) as {
      dispatch: string;
      index: boolean;
      api: boolean;
      files: number;
    };
    expect(seen.dispatch).toBe('function');
    expect(seen.index).toBe(false);
    expect(seen.api).toBe(false);
    expect(seen.files).toBeGreaterThan(0);
  });
});
