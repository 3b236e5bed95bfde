/** The console's argument rendering: string tokens isolated, everything escaped, layout kept. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonParts } from '../../../src/core/untrusted-text.js';

describe('jsonParts', () => {
  it('marks every string token, keeps the pretty-printer line breaks, escapes the rest', () => {
    const text = JSON.stringify({ 'א\u202e': 'ב', n: [1, 'x'] }, null, 2);
    const parts = jsonParts(text);
    expect(parts.filter((p) => p.s).map((p) => p.t)).toEqual(['"א\\u{202e}"', '"ב"', '"n"', '"x"']);
    expect(parts.map((p) => p.t).join('')).toBe(text.replace('\u202e', '\\u{202e}'));
  });

  it('a clipped summary ends in an open string token', () => {
    expect(jsonParts('{"a":"long valu…')).toEqual([
      { t: '{' },
      { t: '"a"', s: true },
      { t: ':' },
      { t: '"long valu…', s: true },
    ]);
  });

  it('for any arguments, the parts read back as the JSON and every string is its own part', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (args) => {
        const text = JSON.stringify(args, null, 2);
        const parts = jsonParts(text);
        const visible = text.split('\n').length;
        expect(
          parts
            .map((p) => p.t)
            .join('')
            .split('\n'),
        ).toHaveLength(visible);
        for (const p of parts.filter((q) => q.s)) expect(p.t.startsWith('"') && p.t.endsWith('"')).toBe(true);
        for (const p of parts.filter((q) => !q.s)) expect(p.t).not.toContain('"');
      }),
      { numRuns: 300 },
    );
  });
});
