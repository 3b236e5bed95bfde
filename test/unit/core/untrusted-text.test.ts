/**
 * Text an agent wrote, shown to a human (terminal, console, elicitation prompt), hides nothing:
 * every invisible or layout-changing character comes out as a visible escape.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundUntrusted,
  escapeUntrusted,
  isolatedJson,
  jsonParts,
  quoteUntrusted,
} from '../../../src/core/untrusted-text.js';

/** What must never survive, checked independently of the implementation's own pattern. */
function invisibleLeft(text: string): string[] {
  return Array.from(text).filter((c) =>
    /^(?:\p{Cc}|\p{Cf}|\p{Cs}|\p{Zl}|\p{Zp}|\p{Default_Ignorable_Code_Point})$/u.test(c),
  );
}

describe('escapeUntrusted', () => {
  it.each([
    [
      'tag characters (invisible ASCII smuggling)',
      'ok\u{E0061}\u{E0064}\u{E006D}\u{E0069}\u{E006E}',
      'ok\\u{e0061}\\u{e0064}\\u{e006d}\\u{e0069}\\u{e006e}',
    ],
    ['soft hyphen', 'ad\u00admin', 'ad\\u{00ad}min'],
    ['Mongolian vowel separator', 'a\u180eb', 'a\\u{180e}b'],
    ['Hangul filler', 'repo\u3164:read', 'repo\\u{3164}:read'],
    ['lone surrogate', 'x\ud800y', 'x\\u{d800}y'],
    ['interlinear annotation', '\ufff9wipe\ufffb', '\\u{fff9}wipe\\u{fffb}'],
    ['variation selector', 'a\ufe0fb', 'a\\u{fe0f}b'],
    ['bidi override and terminal escape', '\u202eabc\u001b[2K', '\\u{202e}abc\\e[2K'],
  ])('shows %s', (_name, input, shown) => {
    expect(escapeUntrusted(input)).toBe(shown);
  });

  it('keeps printable text of any script', () => {
    const text = 'gh:write — שלום 你好 émoji 🚀 ∑';
    expect(escapeUntrusted(text)).toBe(text);
  });

  it.each([
    ['a host with Cyrillic o', 'https://g\u043e\u043egle.com/x', 'https://g\\u{043e}\\u{043e}gle.com/x'],
    ['a branch with Cyrillic a', '{"branch":"m\u0430in"}', '{"branch":"m\\u{0430}in"}'],
    ['Greek omicron in a word', 'repo:wr\u03bfte', 'repo:wr\\u{03bf}te'],
    ['Cherokee A among Latin', '\u13aadmin', '\\u{13aa}dmin'],
    ['fullwidth letters', '\uff47ithub', '\\u{ff47}ithub'],
    ['mathematical bold letters', '\u{1d420}ithub', '\\u{1d420}ithub'],
    ['a ligature', 'pro\ufb01le', 'pro\\u{fb01}le'],
  ])('shows the look-alike letters of %s by code point', (_name, input, shown) => {
    expect(escapeUntrusted(input)).toBe(shown);
  });

  it('keeps words of one script, whatever the script, side by side', () => {
    const text = 'branch main, ветка main, κλάδος, Straße, naïve, 東京 Tokyo';
    expect(escapeUntrusted(text)).toBe(text);
  });

  it('leaves nothing invisible in any string, and changes nothing visible but to its code point', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (text) => {
        const shown = escapeUntrusted(text);
        expect(invisibleLeft(shown)).toEqual([]);
        for (const c of Array.from(text)) {
          const codePoint = `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`;
          if (invisibleLeft(c).length === 0 && !shown.includes(c)) expect(shown).toContain(codePoint);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('bounded and quoted forms hide nothing either', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 64 }),
        fc.integer({ min: 2, max: 80 }),
        (text, max) => {
          expect(invisibleLeft(boundUntrusted(text, max))).toEqual([]);
          const quoted = quoteUntrusted(text, max);
          // keyward's own isolate pair around the text, nothing invisible inside it
          expect(quoted.startsWith('"\u2068') && quoted.endsWith('\u2069"')).toBe(true);
          expect(invisibleLeft(quoted.slice(2, -2))).toEqual([]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('isolatedJson', () => {
  it('the only invisible characters are its own isolates, balanced, one per string token', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), (args) => {
        const text = JSON.stringify(args);
        const out = isolatedJson(text);
        const marks = invisibleLeft(out);
        const strings = jsonParts(text).filter((p) => p.s === true).length;
        expect(marks.filter((c) => c === '\u2066')).toHaveLength(1);
        expect(marks.filter((c) => c === '\u2068')).toHaveLength(strings);
        expect(marks.filter((c) => c === '\u2069')).toHaveLength(strings + 1);
        expect(marks).toHaveLength(2 * strings + 2);
        // Without the marks it reads as the JSON, escaped.
        expect(out.replace(/[\u2066\u2068\u2069]/g, '')).toBe(
          jsonParts(text)
            .map((p) => p.t)
            .join(''),
        );
      }),
      { numRuns: 500 },
    );
  });
});
