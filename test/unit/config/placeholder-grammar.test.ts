/**
 * One placeholder grammar (issue 13): every `{name}` that `keyward check` requires an argument for
 * is one the request builder fills, and the reverse. Before, the checker read `[A-Za-z0-9_.-]+`
 * and the runtime `[A-Za-z_$][A-Za-z0-9_$.-]*`: `{1st}` was checked but sent literally, `{$ref}`
 * filled but never checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/errors.js';
import { toolSchema } from '../../../src/config/schema.js';
import { compileRequestTemplate } from '../../../src/upstream/request-template.js';

const base = (url: string, properties: Record<string, unknown>) => ({
  agents: { a: { roles: ['r'] } },
  identity: { stdio: { agent: 'a' } },
  tools: {
    t: {
      permission: 'x:read',
      request: { method: 'GET', url },
      input: { type: 'object', properties },
    },
  },
});

function checkIssues(url: string, properties: Record<string, unknown>): string[] {
  try {
    parseConfig(base(url, properties));
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => i.message);
    throw error;
  }
}

describe('the placeholder grammar', () => {
  it('what keyward check requires is what the request builder consumes', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_$.-]{1,12}$/).filter((n) => !/^\.+$/.test(n));
    fc.assert(
      fc.property(name, (n) => {
        const url = `https://api.example/items/{${n}}`;
        const template = compileRequestTemplate(
          't',
          toolSchema.parse({ permission: 'x:read', request: { method: 'GET', url } }),
        );
        expect([...template.consumed]).toEqual([n]);
        // Declared: accepted; not declared: the checker names it.
        expect(checkIssues(url, { [n]: { type: 'string' } })).toEqual([]);
        expect(checkIssues(url, {}).join(' ')).toContain(n);
      }),
      { numRuns: 60 },
    );
  });

  it('a name starting with a digit or a $ is filled at runtime (it was sent literally or never checked)', () => {
    const template = compileRequestTemplate(
      't',
      toolSchema.parse({
        permission: 'x:read',
        request: { method: 'GET', url: 'https://api.example/{1st}/{$ref}' },
      }),
    );
    const built = template.build({ '1st': 'a', $ref: 'b' });
    expect(new URL(built.url).pathname).toBe('/a/b');
  });
});
