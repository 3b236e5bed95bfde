// Issue 12 §5 and 14: config rules that keep principals apart, and a config only the operator writes.
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkConfigFileMode, loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/errors.js';
import { refCollision } from '../../../src/secrets/ref-template.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

function issuesOf(input: Record<string, unknown>): string[] {
  try {
    parseConfig({ agents: { a: { roles: [] } }, ...input });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}

const credential = (ref: string): Record<string, unknown> => ({
  backends: { env: { type: 'env' } },
  credentials: {
    c: { backend: 'env', ref, inject: { type: 'bearer' }, origins: ['https://api.example.com'] },
  },
});

describe('identity.tokens', () => {
  it('refuses two entries with the same id (they would share sessions)', () => {
    const issues = issuesOf({
      identity: {
        tokens: [
          { agent: 'a', sha256: HASH_A, id: 'ci' },
          { agent: 'a', sha256: HASH_B, id: 'ci', tenant: 'other' },
        ],
      },
    });
    expect(issues.join('\n')).toMatch(/identity\.tokens\[1\]\.id: duplicate token id "ci"/);
  });

  it('refuses the same token listed twice', () => {
    const issues = issuesOf({
      identity: {
        tokens: [
          { agent: 'a', sha256: HASH_A },
          { agent: 'a', sha256: HASH_A, tenant: 't2' },
        ],
      },
    });
    expect(issues.join('\n')).toMatch(/identity\.tokens\[1\]\.sha256: the same token is listed twice/);
  });

  it('accepts distinct entries', () => {
    expect(
      issuesOf({
        identity: {
          tokens: [
            { agent: 'a', sha256: HASH_A, id: 'x' },
            { agent: 'a', sha256: HASH_B, id: 'y' },
          ],
        },
      }),
    ).toEqual([]);
  });
});

describe('ref templates cannot collide', () => {
  it.each(['keys/{tenant}-{agent}', 'keys/{tenant}{agent}', 'keys/{tenant}.{agent}', 'k/{agent}_{tenant}/x'])(
    'refuses %s',
    (ref) => {
      expect(refCollision(ref)).toMatch(/same ref/);
      expect(issuesOf(credential(ref)).join('\n')).toMatch(/credentials\.c\.ref: .*same ref/);
    },
  );

  it.each([
    'keys/{tenant}/{agent}',
    'keys/{tenant}:{agent}',
    'keys/{tenant}',
    'keys/static',
    'k/{tenant}-x/{agent}.json',
  ])('accepts %s', (ref) => {
    expect(refCollision(ref)).toBeUndefined();
    expect(issuesOf(credential(ref))).toEqual([]);
  });

  it('the collision is real: two principals expand the refused template to one ref', () => {
    const expand = (tenant: string, agent: string): string => `keys/${tenant}-${agent}`;
    expect(expand('a-b', 'c')).toBe(expand('a', 'b-c'));
  });
});

describe('the config file is the operator’s (issue 14)', () => {
  it('is refused when others can write it, and warned about when its group can', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kw-mode-'));
    const file = path.join(dir, 'tools.config.json');
    writeFileSync(file, JSON.stringify({ agents: {} }));
    chmodSync(file, 0o666);
    expect(() => loadConfigFile(file)).toThrow(/writable by other users \(mode 0666\)/);
    chmodSync(file, 0o664);
    const warnings: string[] = [];
    checkConfigFileMode(file, (line) => warnings.push(line));
    expect(warnings.join('\n')).toMatch(/writable by its group \(mode 0664\)/);
    chmodSync(file, 0o644);
    const none: string[] = [];
    checkConfigFileMode(file, (line) => none.push(line));
    expect(none).toEqual([]);
    expect(() => loadConfigFile(file)).not.toThrow();
  });
});
