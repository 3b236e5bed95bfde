import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSectionTable, configSections, renderConfigDoc } from '../../../src/config/config-doc.js';
import { configSchema } from '../../../src/config/schema.js';
import { DEFAULTS } from '../../../src/config/defaults.js';

describe('docs/configuration.md, generated from the schema', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

  it('is in step with the schema (regenerate with `npm run docs:config`)', () => {
    expect(renderConfigDoc(doc)).toBe(doc);
  });

  it('has a generated block for every top-level key of the schema', () => {
    const keys = Object.keys(configSchema.shape).filter((k) => k !== '$schema');
    expect(configSections()).toEqual(keys);
    for (const key of keys) expect(doc).toContain(`<!-- generated:${key}:start -->`);
  });

  it('refuses a document that lacks a section or names an unknown one', () => {
    expect(() => renderConfigDoc(doc.replace(/<!-- generated:logging:(start|end) -->\n?/g, ''))).toThrow(
      /"logging"/,
    );
    expect(() =>
      renderConfigDoc(`${doc}\n<!-- generated:nope:start -->\n<!-- generated:nope:end -->\n`),
    ).toThrow(/unknown section "nope"/);
  });

  it('gives every key a description, and shows the defaults of DEFAULTS', () => {
    const rows = configSections().flatMap((s) => configSectionTable(s).split('\n').slice(2));
    const undescribed = rows
      .filter((row) => row.endsWith('|  |'))
      .map((row) => /^\| `([^`]+)`/.exec(row)?.[1])
      // discriminator values (`auth.method`) and the JSON Schema's own `input.type` say it in their type
      .filter((key) => key !== undefined && !/\.(method|input\.type)$/.test(key));
    expect(undescribed).toEqual([]);
    const table = configSectionTable('server');
    expect(table).toContain(`| \`${DEFAULTS.http.maxSessions}\` |`);
    expect(configSectionTable('credentials')).toContain(`integer 0–${DEFAULTS.cache.maxTtlSeconds}`);
  });
});
