/**
 * Redaction is not an oracle (issue 12 §1), at the redactor's level: the same sliding-window attack
 * recovers the whole key from the redactor keyward shipped before (kept in
 * bench/micro/redaction-before.ts, so this test shows the attack works) and nothing from today's.
 */
import { describe, expect, it } from 'vitest';
import { compileRedactor as compileBefore } from '../../../bench/micro/redaction-before.js';
import { compileRedactor, REDACTED } from '../../../src/upstream/redaction.js';
import { secretTarget, wrapperTarget } from '../../../src/upstream/redaction-target.js';
import { reflectedInput } from '../../../src/upstream/reflected-input.js';
import { BASE62, BASE64_CHARS, slidingWindowAttack } from '../../helpers/oracle-attack.js';

const KEY = 'sk_live_' + 'Zq8Lk2Pw9Xv4Rt7Yb3Nm6Hc1Jd5Gf0Sa';
const bearer = `Bearer ${KEY}`;
const basicEncoded = Buffer.from(`svc:${KEY}`).toString('base64');
const basic = `Basic ${basicEncoded}`;

/** An upstream that echoes its query argument, as a search API does. */
const reflect = (candidates: readonly string[]): { args: { q: string }; body: string } => {
  const q = candidates.join('~');
  return { args: { q }, body: JSON.stringify({ results: [], query: q }) };
};

const cases = [
  { name: 'bearer', target: bearer, publicLength: 'Bearer sk_live_'.length, alphabet: BASE62 },
  {
    name: 'basic with a fixed username',
    target: basic,
    publicLength: 'Basic '.length + 5,
    alphabet: BASE64_CHARS,
  },
  { name: 'prefixed raw key', target: KEY, publicLength: 'sk_live_'.length, alphabet: BASE62 },
];
const targets = [secretTarget(KEY), wrapperTarget(bearer), wrapperTarget(basicEncoded), wrapperTarget(basic)];

describe('the sliding-window attack against the redactor', () => {
  for (const c of cases) {
    it(`recovers the key through the old redactor (${c.name}): the attack is real`, async () => {
      const before = compileBefore([KEY, bearer, basicEncoded, basic]);
      const recovered = await slidingWindowAttack(
        async (candidates) => before.redact(reflect(candidates).body),
        {
          ...c,
          maxSteps: 12,
        },
      );
      expect(recovered).toBe(12);
    });

    it(`recovers nothing beyond the public prefix now (${c.name})`, async () => {
      const redactor = compileRedactor(targets);
      const recovered = await slidingWindowAttack(async (candidates) => {
        const { args, body } = reflect(candidates);
        return redactor.redact(body, reflectedInput(args));
      }, c);
      expect(recovered).toBe(0);
    });
  }

  it('reflected input comes back exactly as sent, right guess or wrong', () => {
    const redactor = compileRedactor(targets);
    for (const q of [`${KEY.slice(0, 20)}`, `${KEY.slice(8, 30)}`, 'sk_live_nothing_here_at_all', KEY]) {
      const body = JSON.stringify({ query: q });
      expect(redactor.redact(body, reflectedInput({ q }))).toBe(body);
    }
  });

  it('a partial run the upstream produced on its own is still removed, whatever the agent sent', () => {
    const redactor = compileRedactor(targets);
    // The agent sends every two-character sequence it likes; the upstream leaks 10 core characters.
    const q = Array.from(BASE62, (a) => Array.from(BASE62, (b) => a + b).join('')).join('');
    const leaked = KEY.slice(10, 20);
    const out = redactor.redact(`{"query":"${q}","hint":"${leaked}"}`, reflectedInput({ q }));
    expect(out).not.toContain(leaked);
    expect(out).toContain(`"hint":"${REDACTED}"`);
    // And the full key in any encoding.
    const b64 = Buffer.from(KEY).toString('base64');
    expect(redactor.redact(`x ${b64} ${encodeURIComponent(bearer)}`, reflectedInput({ q }))).toBe(
      `x ${REDACTED} ${REDACTED}`,
    );
  });
});

describe('the reflection check takes the same time for a right and a wrong guess', () => {
  /** Counts String.prototype.toLowerCase calls made by `fn` (building the pieces lower-cases them). */
  function lowerCasings(fn: () => void): number {
    const original = String.prototype.toLowerCase;
    let calls = 0;
    String.prototype.toLowerCase = function (this: string) {
      calls += 1;
      return original.call(this);
    };
    try {
      fn();
    } finally {
      String.prototype.toLowerCase = original;
    }
    return calls;
  }

  it("builds a large input's pieces when the call is made, not on the first match", () => {
    // Built on the first match, a 62 KB input made a right guess (a match) about 45 ms slower than
    // a wrong one (no match).
    const args = { q: 'x'.repeat(3000), r: 'y'.repeat(3000) };
    let reflected = reflectedInput({});
    expect(lowerCasings(() => (reflected = reflectedInput(args)))).toBeGreaterThan(30);
    expect(lowerCasings(() => reflected.covers('XXXX'))).toBe(1);
  });

  it('answers each asked text once per call, however often a response repeats it', () => {
    const reflected = reflectedInput({ q: 'a guess '.repeat(1000), r: 'other' });
    expect(reflected.covers('A GUESS')).toBe(true);
    let calls = 0;
    const original = String.prototype.includes;
    String.prototype.includes = function (this: string, search: string, position?: number) {
      calls += 1;
      return original.call(this, search, position);
    };
    try {
      for (let i = 0; i < 1500; i++) reflected.covers('a guess');
    } finally {
      String.prototype.includes = original;
    }
    expect(calls).toBe(0);
  });
});
