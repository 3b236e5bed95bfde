/**
 * Bundles tsc's output (dist/src/main.js) into the published binary, dist/bin/keyward.js, with
 * esbuild (issue 18, cold start). `keyward serve` otherwise loads about 560 files at start (keyward's
 * own modules, zod, ajv, the MCP SDK, OpenTelemetry's API, cockatiel, pino, commander), and Node's
 * ESM resolver and per-file compile were the largest item of its start-up CPU; bundled, it loads a
 * few dozen.
 *
 * What is bundled and what is not:
 * - BUNDLED: the packages `keyward serve` loads before its first result, and their own
 *   dependencies. Every other dependency stays external and is loaded from node_modules as it is
 *   today: better-sqlite3 (native), and the families keyward loads with `import()` only when they
 *   are configured or the command needs them (Vault, AWS, PostgreSQL, Redis, jose/openid-client,
 *   express, the OpenTelemetry SDK and exporter, the OpenAPI parser, handlebars...). A new
 *   dependency is external until it is added here.
 * - undici is loaded through `createRequire` (src/upstream/undici-pool.ts), which esbuild leaves
 *   alone, so it too comes from node_modules.
 * - keyward's own modules are all bundled; each `import()` boundary becomes a chunk under
 *   dist/bin/chunks/, so what was lazy stays lazy.
 *
 * The bundle is a build output (never committed): `npm run build` runs tsc and then this script,
 * and the test suite bundles the current dist/src before it runs (test/helpers/bundle-setup.ts).
 * Run: node scripts/bundle.mjs
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Packages loaded by `keyward serve` before its first result: bundled with keyward's own code. */
export const BUNDLED = [
  '@modelcontextprotocol/sdk',
  '@opentelemetry/api',
  'ajv',
  'ajv-formats',
  'cockatiel',
  'commander',
  'pino',
  'zod',
];

/** Builds dist/bin/ from dist/src/ (tsc's output must be there). */
export async function bundle(root = repoRoot) {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const external = Object.keys(pkg.dependencies)
    .filter((name) => !BUNDLED.includes(name))
    .flatMap((name) => [name, `${name}/*`]);
  const outdir = path.join(root, 'dist/bin');
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: [{ in: 'dist/src/main.js', out: 'keyward' }],
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    sourcemap: 'linked',
    logLevel: 'warning',
    // The bundled CommonJS packages call require() for Node's built-ins; an ES module has no
    // require of its own, so each output file gets one.
    banner: {
      js: "import { createRequire as __keywardCreateRequire } from 'node:module';\nconst require = __keywardCreateRequire(import.meta.url);",
    },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle();
