/**
 * The published binary is the esbuild bundle of dist/src (scripts/bundle.mjs, issue 18 cold start):
 * package.json's bin is the file every CLI test runs, a fresh process of it answers its first
 * call, and the packages bundled for the start are really inside it (no import of them is left
 * for Node to resolve in node_modules), while every other dependency stays an import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { connectStdio, mainJs, makeWorkspace, repoRoot } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kwbundle_' + 'Hq4Zt8Rm2Wc6Ny0Jp3';
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  bin: { keyward: string };
  dependencies: Record<string, string>;
};

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every module specifier the bundle's files import (`import … from`, `import "x"`, `import("x")`). */
function bundleImports(): Set<string> {
  const dir = path.dirname(mainJs);
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
  const specifiers = new Set<string>();
  // esbuild writes each static import at the start of a line, with double quotes (the single-quoted
  // ones in its output are inside strings and comments)
  const patterns = [
    /^import\b[^;]*?\bfrom\s*"([^"]+)";/gm,
    /^import\s*"([^"]+)";/gm,
    /\bimport\("([^"]+)"\)/g,
  ];
  for (const file of files) {
    const code = readFileSync(path.join(dir, file), 'utf8');
    for (const pattern of patterns) for (const match of code.matchAll(pattern)) specifiers.add(match[1]!);
  }
  return specifiers;
}

describe('the published binary (esbuild bundle)', () => {
  let upstream: Upstream;
  let configPath: string;

  beforeAll(async () => {
    upstream = await startUpstream([KEY]);
    ({ configPath } = await makeWorkspace((dir) => coreConfig(dir, upstream.origin), { api: KEY }));
  });
  afterAll(() => upstream?.close());

  it("is package.json's bin and the file the CLI tests run", () => {
    expect(path.join(repoRoot, pkg.bin.keyward)).toBe(mainJs);
    expect(readFileSync(mainJs, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('answers the first call of a fresh process with the checked result', async () => {
    const session = await connectStdio(configPath);
    try {
      const result = (await session.client.callTool({
        name: 'get_repo',
        arguments: { owner: 'octo', repo: 'hello' },
      })) as CallToolResult;
      expect(result.isError, JSON.stringify(result)).toBeFalsy();
      expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(JSON.stringify(result)).not.toContain(KEY);
    } finally {
      await session.close();
    }
  });

  it('is ASCII only, so that Node hands V8 one-byte source strings', () => {
    const dir = path.dirname(mainJs);
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(1);
    // eslint-disable-next-line no-control-regex
    const nonAscii = files.filter((f) => /[^\x00-\x7f]/.test(readFileSync(path.join(dir, f), 'utf8')));
    expect(nonAscii).toEqual([]);
  });

  it("carries zod's English messages only (not its 49 translations)", () => {
    const dir = path.dirname(mainJs);
    const maps = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js.map'));
    const sources = maps.flatMap(
      (f) => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { sources: string[] }).sources,
    );
    const locales = new Set(
      sources.filter((s) => /\/zod\/v4\/locales\//.test(s)).map((s) => path.basename(s)),
    );
    expect(locales).toContain('en.js');
    // index.js: the namespace, here a stub that re-exports en
    expect([...locales].filter((f) => f !== 'en.js' && f !== 'index.js')).toEqual([]);
  });

  it('contains the packages of the start and imports only external dependencies and built-ins', async () => {
    const { BUNDLED } = (await import(pathToFileURL(path.join(repoRoot, 'scripts/bundle.mjs')).href)) as {
      BUNDLED: string[];
    };
    const bare = [...bundleImports()].filter((s) => !s.startsWith('.'));
    const builtins = new Set(builtinModules);
    const packages = new Set(bare.filter((s) => !s.startsWith('node:') && !builtins.has(s)).map(packageOf));
    for (const name of BUNDLED) expect(packages, name).not.toContain(name);
    for (const name of packages) expect(Object.keys(pkg.dependencies), name).toContain(name);
    // what `keyward serve` loads lazily stays outside the bundle
    expect(packages).toContain('better-sqlite3');
    expect(packages).toContain('express');
    expect(packages).toContain('@opentelemetry/sdk-trace-base');
  });
});
