import module from 'node:module';
import { describe, expect, it } from 'vitest';
import { COMMANDS, buildProgram, commandsFor } from '../../../src/cli/program.js';
import { compileCacheDir, enableCompileCache } from '../../../src/cli/compile-cache.js';

const argv = (...args: string[]): string[] => ['/usr/bin/node', '/usr/bin/keyward', ...args];
const ALL = Object.keys(COMMANDS);

describe('the command line loads only the command it runs', () => {
  it('a named command loads that command only', () => {
    expect(commandsFor(argv('serve', '--config', 'x.json'))).toEqual(['serve']);
    expect(commandsFor(argv('serve', '--http', '--port', '8787'))).toEqual(['serve']);
    expect(commandsFor(argv('secrets', 'set', 'api'))).toEqual(['secrets']);
    expect(commandsFor(argv('import', 'spec.json'))).toEqual(['import']);
  });

  it('no command, options only, help or an unknown word load every command', () => {
    for (const args of [
      [],
      ['--help'],
      ['--version'],
      ['help', 'serve'],
      ['serv'],
      ['toString'],
      ['__proto__'],
    ]) {
      expect(commandsFor(argv(...args))).toEqual(ALL);
    }
  });

  it('registers the same commands, in the same order, as before', async () => {
    const all = await buildProgram(argv('--help'));
    expect(all.commands.map((c) => c.name())).toEqual([
      'serve',
      'check',
      'grants',
      'policy',
      'schema',
      'audit',
      'demo',
      'init',
      'secrets',
      'import',
      'tokens',
      'console',
      'connections',
    ]);
    const serve = await buildProgram(argv('serve'));
    expect(serve.commands.map((c) => c.name())).toEqual(['serve']);
    expect(serve.commands[0]!.options.map((o) => o.long)).toContain('--config');
  });
});

describe('compile cache', () => {
  it('lives in the user’s cache directory, never the shared temporary directory', () => {
    expect(compileCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' })).toBe(
      '/home/u/.cache/keyward/compile-cache',
    );
    // A relative XDG_CACHE_HOME is invalid by the XDG spec: the home default is used.
    expect(compileCacheDir({ XDG_CACHE_HOME: 'rel' })).toMatch(/\.cache\/keyward\/compile-cache$/);
  });

  it('stays off when Node has no compile cache or when NODE_DISABLE_COMPILE_CACHE is set', () => {
    expect(enableCompileCache({ NODE_DISABLE_COMPILE_CACHE: '1' })).toBe(false);
    const api = (module as unknown as { enableCompileCache?: unknown }).enableCompileCache;
    if (typeof api !== 'function') expect(enableCompileCache({})).toBe(false);
  });
});
