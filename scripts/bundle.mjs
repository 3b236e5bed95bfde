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
 * - undici's Pool (src/upstream/undici-pool.ts) is bundled, except the files it requires late or
 *   never (undiciLazyFilesExternal below).
 * - zod's translations are left out (zodEnglishOnly below).
 * - keyward's own modules are all bundled; each `import()` boundary becomes a chunk under
 *   dist/bin/chunks/, so what was lazy stays lazy.
 *
 * The bundle is a build output (never committed): `npm run build` runs tsc and then this script,
 * and the test suite bundles the current dist/src before it runs (test/helpers/bundle-setup.ts).
 * Run: node scripts/bundle.mjs
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  'undici',
  'zod',
];

/**
 * zod's `locales` namespace (`z.locales.fr()`, 49 translations of its error messages, 306 KB)
 * holds only English here: keyward and the MCP SDK never switch zod's language, and zod's default
 * (`en`, imported by zod itself) is unchanged. Bundled whole, the translations were read and
 * compiled at every start (issue 18 cold start).
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!args.importer.includes(`${path.sep}node_modules${path.sep}zod${path.sep}`)) return undefined;
      return { path: path.resolve(args.resolveDir, args.path), namespace: 'zod-english-only' };
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * undici's files that its Pool requires only inside functions, late or never: fetch's body
 * helpers (a request body that is a FormData or a Blob) and the two llhttp WebAssembly modules
 * (140 KB of base64, loaded when the first connection opens). Bundled, they would be read and
 * compiled at every start for nothing; external, Node loads them from node_modules when needed.
 */
const undiciLazyFilesExternal = {
  name: 'undici-lazy-files-external',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/(.*\/)?(web\/|llhttp(_simd)?-wasm\.js$)/ }, (args) => {
      const file = path.resolve(args.resolveDir, args.path);
      const lib = file.lastIndexOf(`${path.sep}node_modules${path.sep}undici${path.sep}lib${path.sep}`);
      if (lib < 0) return undefined;
      const sub = file
        .slice(lib + `${path.sep}node_modules${path.sep}`.length)
        .split(path.sep)
        .join('/');
      return { path: sub, external: true };
    });
  },
};

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
    plugins: [zodEnglishOnly, undiciLazyFilesExternal],
    sourcemap: 'linked',
    logLevel: 'warning',
    // The bundled CommonJS packages call require() for Node's built-ins; an ES module has no
    // require of its own, so each output file gets one.
    banner: {
      js: "import { createRequire as __keywardCreateRequire } from 'node:module';\nconst require = __keywardCreateRequire(import.meta.url);",
    },
  });
  asciiOnly(outdir);
}

/**
 * Escapes the non-ASCII characters esbuild leaves in the comments it keeps (its code is ASCII
 * already: `charset: 'ascii'` is its default). One `×` or `—` in a comment makes Node decode the
 * whole file as UTF-8 and hand V8 a two-byte string, which is slower to decode and to compile than
 * the one-byte string of an ASCII file (the 780 KB chunk with zod: ~7 ms per start, issue 18 cold
 * start). A `\u` escape is valid wherever esbuild could have left such a character.
 */
function asciiOnly(dir) {
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.js')) continue;
    const full = path.join(dir, file);
    const code = readFileSync(full, 'utf8');
    // eslint-disable-next-line no-control-regex
    const ascii = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (ascii !== code) writeFileSync(full, ascii);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundle();
