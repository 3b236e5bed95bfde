/** Tool sources at startup, spec drift warnings, and `keyward import openapi` writing the config. */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runImportOpenApi } from '../../../src/cli/commands/import.js';
import { loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/errors.js';
import { checkGeneratedDrift, regenerateImportedTools } from '../../../src/openapi/drift.js';
import { loadToolSources } from '../../../src/openapi/tool-sources.js';
import { compileTools } from '../../../src/server/compile-tools.js';
import { FIXTURES } from './helpers.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyward-import-'));
  copyFileSync(path.join(FIXTURES, 'features.yaml'), path.join(dir, 'zoo.yaml'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const backend = { type: 'file', path: './secrets.enc', keyPath: './master.key' };
const zooCredential = {
  backend: 'local',
  ref: 'zoo',
  inject: { type: 'bearer' },
  origins: ['https://eu.zoo.example.com'],
};

describe('loadToolSources', () => {
  it('compiles each source once into tools that the server can compile', async () => {
    const { config } = parseConfig(
      {
        backends: { local: backend },
        credentials: { zoo: zooCredential },
        toolSources: [{ openapi: 'zoo.yaml', credential: 'zoo', tags: ['animals'], permissionPrefix: 'zoo' }],
      },
      path.join(dir, 'tools.config.json'),
      dir,
    );
    const tools = await loadToolSources(config);
    expect(Object.keys(tools).sort()).toEqual([
      'createAnimal',
      'deleteAnimal',
      'getAnimal',
      'patchAnimals',
      'put_animals',
    ]);
    expect(tools.getAnimal!.permission).toBe('zoo:animals:read');
    expect(tools.getAnimal!.credential).toBe('zoo');
    const compiled = compileTools({ ...config, tools: { ...config.tools, ...tools } });
    expect(compiled.size).toBe(5);
  });

  it('names the source of each problem: missing file, collisions, origins outside the credential', async () => {
    const { config } = parseConfig(
      {
        backends: { local: backend },
        credentials: { zoo: { ...zooCredential, origins: ['https://other.example.com'] } },
        tools: {
          getAnimal: { permission: 'x', request: { method: 'GET', url: 'https://other.example.com/' } },
        },
        toolSources: [
          { openapi: 'missing.yaml' },
          { openapi: 'zoo.yaml', credential: 'zoo', operations: ['getAnimal', 'deleteAnimal'] },
        ],
      },
      path.join(dir, 'tools.config.json'),
      dir,
    );
    const error = (await loadToolSources(config).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    const text = JSON.stringify(error.issues);
    expect(
      error.issues.some((i) => i.path === 'toolSources[0].openapi' && i.message.includes('not found')),
    ).toBe(true);
    expect(text).toContain('generated tool \\"getAnimal\\" collides');
    expect(text).toContain('not in credentials.zoo.origins');
  });
});

describe('keyward import openapi', () => {
  it('writes tools and a credential into the config, keeping everything else, and reports unsupported bits', async () => {
    const configFile = path.join(dir, 'tools.config.json');
    const existing = {
      $schema: './schema.json',
      agents: { local: { roles: ['owner'] } },
      backends: { local: backend },
      tools: {
        handmade: { permission: 'x:read', request: { method: 'GET', url: 'https://x.example.com/' } },
      },
      policy: { rules: [{ id: 'r', effect: 'allow', roles: ['owner'], permissions: ['x:*'] }] },
    };
    writeFileSync(configFile, JSON.stringify(existing, null, 2));
    const outcome = await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      config: configFile,
      credential: 'zoo',
      permissionPrefix: 'zoo',
    });
    expect(outcome.stdout).toMatch(/imported 8 tools \(8 new, 0 updated\) from 11 operations in \d+ ms/);
    expect(outcome.stdout).toContain('added credential "zoo"');
    expect(outcome.stderr).toContain(
      'warning: POST /photos (uploadPhoto): request body media type(s) multipart/form-data are not supported (only JSON) (operation skipped)',
    );
    expect(outcome.stderr).toContain(
      'warning: GET /keepers/{keeperId} (getKeeper): cookie parameter "token" is not supported',
    );
    const written = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test inspection of free JSON
    expect(written.$schema).toBe('./schema.json');
    expect(written.policy).toEqual(existing.policy);
    expect(written.tools.handmade).toEqual(existing.tools.handmade);
    expect(written.tools.getAnimal.generated.source).toBe('zoo.yaml');
    expect(written.credentials.zoo).toEqual({
      backend: 'local',
      ref: 'zoo',
      inject: { type: 'bearer' },
      origins: ['https://eu.zoo.example.com'],
    });
    const loaded = loadConfigFile(configFile);
    expect(compileTools(loaded.config).size).toBe(9);
  });

  it('refuses to overwrite a hand-written tool unless --force; re-import updates generated ones', async () => {
    const configFile = path.join(dir, 'tools.config.json');
    const handmade = {
      permission: 'mine',
      request: { method: 'GET', url: 'https://eu.zoo.example.com/mine' },
    };
    writeFileSync(
      configFile,
      JSON.stringify({ backends: { local: backend }, tools: { getAnimal: handmade } }),
    );
    const first = await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      config: configFile,
      operation: ['getAnimal', 'deleteAnimal'],
    });
    expect(first.stderr).toContain('tools.getAnimal is hand-written and was kept; pass --force');
    let written = JSON.parse(readFileSync(configFile, 'utf8')) as { tools: Record<string, unknown> };
    expect(written.tools.getAnimal).toEqual(handmade);
    expect(written.tools.deleteAnimal).toBeDefined();
    const again = await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      config: configFile,
      operation: ['deleteAnimal'],
    });
    expect(again.stdout).toContain('(0 new, 1 updated)');
    await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      config: configFile,
      operation: ['getAnimal'],
      force: true,
    });
    written = JSON.parse(readFileSync(configFile, 'utf8')) as { tools: Record<string, unknown> };
    expect((written.tools.getAnimal as { generated?: unknown }).generated).toBeDefined();
  });

  it('--print writes nothing and prints the entries as JSON', async () => {
    const outcome = await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      print: true,
      tag: ['people'],
      credential: 'zoo',
    });
    const printed = JSON.parse(outcome.stdout) as {
      tools: Record<string, unknown>;
      credentials: Record<string, unknown>;
    };
    expect(Object.keys(printed.tools)).toEqual(['getAnimal_2']);
    expect(printed.credentials.zoo).toMatchObject({ inject: { type: 'bearer' } });
    expect(outcome.stderr).toMatch(/1 tools from 11 operations in \d+ ms/);
  });
});

describe('spec drift', () => {
  it('warns when an approved imported tool would now be generated differently, or is gone', async () => {
    const configFile = path.join(dir, 'tools.config.json');
    writeFileSync(configFile, JSON.stringify({ backends: { local: backend } }));
    await runImportOpenApi(path.join(dir, 'zoo.yaml'), {
      config: configFile,
      baseUrl: 'http://127.0.0.1:1/',
    });
    let loaded = loadConfigFile(configFile);
    let now = await regenerateImportedTools(loaded.config, loaded.baseDir);
    expect(now.errors).toEqual([]);
    expect(checkGeneratedDrift(loaded.config, now.tools)).toEqual([]); // base URL does not count as drift

    // The spec changes: a description of one operation, a parameter of another, one operation removed.
    const spec = readFileSync(path.join(dir, 'zoo.yaml'), 'utf8')
      .replace('summary: Create an animal', 'summary: Create an animal and email everyone')
      .replace(
        '          format: uuid\n',
        '          format: uuid\n        - name: extra\n          in: query\n          schema:\n            type: string\n',
      )
      .replace(
        '    delete:\n      operationId: deleteAnimal',
        '    x-removed:\n      operationId: deleteAnimal',
      );
    writeFileSync(path.join(dir, 'zoo.yaml'), spec);
    loaded = loadConfigFile(configFile);
    now = await regenerateImportedTools(loaded.config, loaded.baseDir);
    const warnings = checkGeneratedDrift(loaded.config, now.tools);
    expect(warnings).toHaveLength(3);
    expect(warnings.find((w) => w.startsWith('tools.createAnimal:'))).toContain('changed this operation');
    expect(warnings.find((w) => w.startsWith('tools.getAnimal:'))).toContain('changed this operation');
    expect(warnings.find((w) => w.startsWith('tools.deleteAnimal:'))).toContain(
      'no longer has this operation',
    );
  });
});
