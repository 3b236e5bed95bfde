/**
 * Vitest global setup: bundles the current tsc output (dist/src) into the binary that the CLI
 * tests run (dist/bin/keyward.js, scripts/bundle.mjs), so that a run after
 * `npx tsc -p tsconfig.build.json` alone never tests a stale bundle. Without a build
 * (no dist/src/main.js) it does nothing, and the tests that need one fail or skip as before.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export default function bundleBuiltServer(): void {
  if (!existsSync(path.join(repoRoot, 'dist/src/main.js'))) return;
  const r = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/bundle.mjs failed:\n${r.stderr}`);
}
