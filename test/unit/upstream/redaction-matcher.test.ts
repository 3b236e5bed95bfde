// The issue-18 scan (a Wu–Manber shift table that skips positions where no pattern can start) finds
// exactly what the previous scan (a rolling hash at every position, kept in
// test/helpers/redaction-reference.ts) found: same output for random secrets, options, texts built
// from encoded fragments of the secrets, and reflected input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRedactor, LOG_MIN_RUN, type RedactorOptions } from '../../../src/upstream/redaction.js';
import { secretTarget, wrapperTarget } from '../../../src/upstream/redaction-target.js';
import { NO_INPUT, reflectedInput } from '../../../src/upstream/reflected-input.js';
import { compileRedactor as compileReference } from '../../helpers/redaction-reference.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const uEscapes = (s: string, upper: boolean): string =>
  Array.from({ length: s.length }, (_, i) => {
    const h = s.charCodeAt(i).toString(16).padStart(4, '0');
    return '\\u' + (upper ? h.toUpperCase() : h);
  }).join('');

/** Ways a slice of a secret can appear in a response (the redactor's encodings and near misses). */
const ENCODE: readonly ((s: string) => string)[] = [
  (s) => s,
  (s) => s.toUpperCase(),
  (s) => encodeURIComponent(s),
  (s) => encodeURIComponent(s).toLowerCase(),
  (s) => new URLSearchParams({ k: s }).toString().slice(2),
  (s) => JSON.stringify(s).slice(1, -1),
  (s) => uEscapes(s, false),
  (s) => uEscapes(s, true),
  (s) => Buffer.from(s, 'utf8').toString('hex'),
  (s) => Buffer.from(s, 'utf8').toString('hex').toUpperCase(),
  (s) => b64(s),
  (s) => b64('x' + s),
  (s) =>
    b64('xy' + s)
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, ''),
  (s) => 'Bearer ' + s,
];

const secretArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9]{4,12}$/),
  fc.stringMatching(/^(sk_live_|ghp_|xoxb-)?[A-Za-z0-9_-]{8,40}$/),
  fc.string({ unit: 'grapheme-ascii', minLength: 4, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 4, maxLength: 24 }),
);

const optionsArb: fc.Arbitrary<RedactorOptions> = fc.oneof(
  fc.constant({}),
  fc.constant({ minRun: LOG_MIN_RUN, wholeValueRuns: true }),
  fc.record({ minRun: fc.integer({ min: 4, max: 14 }) }),
);

/** A text of random filler and encoded slices of the secrets, joined in random order. */
const textArb = (secrets: readonly string[]): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 10 }),
        fc
          .record({
            which: fc.nat(),
            from: fc.nat(),
            length: fc.integer({ min: 1, max: 48 }),
            encoding: fc.nat({ max: ENCODE.length - 1 }),
          })
          .map(({ which, from, length, encoding }) => {
            // Code points, not UTF-16 units: a lone surrogate cannot be percent-encoded.
            const units = Array.from(secrets[which % secrets.length]!);
            const start = from % units.length;
            return ENCODE[encoding]!(units.slice(start, start + length).join(''));
          }),
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join(''));

const caseArb = fc
  .record({ secrets: fc.array(secretArb, { minLength: 1, maxLength: 3 }), options: optionsArb })
  .chain(({ secrets, options }) =>
    fc.record({
      secrets: fc.constant(secrets),
      options: fc.constant(options),
      text: textArb(secrets),
      // What the agent sent: nothing, or slices of a secret (the reflection rule's input).
      args: fc.option(fc.array(textArb(secrets), { maxLength: 3 }), { nil: undefined }),
      wrappers: fc.boolean(),
    }),
  );

describe('the redactor scan matches the reference scan', () => {
  it('gives the same text for random secrets, options, texts and reflected input', () => {
    fc.assert(
      fc.property(caseArb, ({ secrets, options, text, args, wrappers }) => {
        const targets = secrets.flatMap((s) =>
          wrappers ? [secretTarget(s), wrapperTarget(`Bearer ${s}`)] : [secretTarget(s)],
        );
        const reflected = args === undefined ? NO_INPUT : reflectedInput({ q: args });
        const expected = compileReference(targets, options).redact(text, reflected);
        expect(compileRedactor(targets, options).redact(text, reflected)).toBe(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('gives the same JSON values (strings, keys, numbers) for random bodies', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1000, max: 99999999 }), ({ secrets, options, text }, num) => {
        const targets = [...secrets.map(secretTarget), secretTarget(String(num))];
        const value = { [text]: [text, num, { nested: text.slice(3) }], n: num };
        const expected = compileReference(targets, options).redactJson(value);
        expect(compileRedactor(targets, options).redactJson(value)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('finds matches at the very start and end of the text and next to each other', () => {
    const secret = 'Zq8Lk2Pw9Xv4Rt7Yb3Nm';
    const targets = [secretTarget(secret)];
    const texts = [
      secret,
      secret + secret,
      secret.slice(0, 8),
      'a' + secret.slice(-8),
      secret.slice(5, 13) + 'xxxxxxx' + secret.slice(9, 17),
      Buffer.from(secret).toString('hex').slice(0, 16),
      '\u2603\u0103' + secret.slice(2, 10) + '\u0103',
    ];
    const now = compileRedactor(targets);
    const reference = compileReference(targets);
    for (const text of texts) expect(now.redact(text)).toBe(reference.redact(text));
    expect(now.redact(secret + secret)).toBe('[REDACTED]');
  });
});
