// Redaction: every encoding and partial echo of a secret is removed; unrelated text is untouched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRedactor, REDACTED, redactorFor, scrubText } from '../../../src/upstream/redaction.js';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function canary(length = 32): string {
  let out = 'cnry_';
  for (let i = 0; i < length; i++) out += BASE62[Math.floor(Math.random() * BASE62.length)];
  return out;
}

function windowsOf(secret: string, n = 8): string[] {
  const units = Array.from(secret);
  if (units.length < n) return [secret];
  const out: string[] = [];
  for (let i = 0; i + n <= units.length; i++) out.push(units.slice(i, i + n).join(''));
  return out;
}

/** Independent leak detector: decodes the text every way an attacker might and looks for 8-unit windows. */
function leaks(text: string, secret: string): string | undefined {
  const wins = windowsOf(secret);
  const winBytes = wins.map((w) => Buffer.from(w, 'utf8'));
  const inText = (t: string): boolean => wins.some((w) => t.includes(w));
  const inBytes = (b: Buffer): boolean => winBytes.some((w) => b.includes(w));
  if (inText(text)) return 'raw';
  // percent / form decoding, permissive.
  const pct = Buffer.from(
    text
      .replace(/\+/g, ' ')
      .replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
  if (inBytes(pct)) return 'percent';
  // JSON escapes.
  const json = text.replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  const jsonUnescaped = json.replace(/\\(["\\/bfnrt])/g, (_, c: string) =>
    c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c === 'b' ? '\b' : c === 'f' ? '\f' : c,
  );
  if (inText(jsonUnescaped)) return 'json';
  // hex runs at both parities.
  for (const run of text.match(/[0-9a-fA-F]{16,}/g) ?? []) {
    for (const off of [0, 1]) {
      const body = run.slice(off);
      if (inBytes(Buffer.from(body.slice(0, body.length - (body.length % 2)), 'hex'))) return 'hex';
    }
  }
  // base64 runs (std and URL-safe) at every character offset.
  for (const run of text.match(/[A-Za-z0-9+/_-]{10,}/g) ?? []) {
    const std = run.replace(/-/g, '+').replace(/_/g, '/');
    for (let off = 0; off < 4; off++) {
      const body = std.slice(off);
      if (inBytes(Buffer.from(body.slice(0, body.length - (body.length % 4)), 'base64'))) return 'base64';
    }
  }
  return undefined;
}

function encodings(secret: string, prefix = 'xx', suffix = 'yy'): Record<string, string> {
  const whole = prefix + secret + suffix;
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  const url = (s: string): string => b64(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const u = (s: string): string =>
    Array.from({ length: s.length }, (_, i) => '\\u' + s.charCodeAt(i).toString(16).padStart(4, '0')).join(
      '',
    );
  return {
    raw: whole,
    b64a0: b64(secret),
    b64a0nopad: b64(secret).replace(/=+$/, ''),
    b64a1: b64('x' + secret),
    b64a2: b64('xy' + secret),
    b64embedded: b64(whole),
    b64url0: url(secret),
    b64url1: url('x' + secret + 'tail'),
    b64url2: url('xy' + secret),
    basic: 'Basic ' + b64('user:' + secret),
    bearer: 'Authorization: Bearer ' + secret,
    uri: encodeURIComponent(whole),
    uriLower: encodeURIComponent(whole).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    form: new URLSearchParams({ k: whole }).toString(),
    jsonEscaped: JSON.stringify(whole),
    uEscapes: u(whole),
    uEscapesUpper: u(whole).toUpperCase().replace(/\\U/g, '\\u'),
    hex: Buffer.from(whole, 'utf8').toString('hex'),
    hexUpper: Buffer.from(whole, 'utf8').toString('hex').toUpperCase(),
  };
}

describe('compileRedactor', () => {
  it('the leak detector used below sees every unredacted encoding (the tests can fail)', () => {
    for (const secret of [canary(), 'p@ss w/rd+"\\\n%20é€😀ünï']) {
      for (const [name, text] of Object.entries(encodings(secret))) {
        expect(leaks(text, secret), name).toBeDefined();
      }
    }
  });

  it('removes the raw secret and keeps the surrounding text', () => {
    const secret = canary();
    const r = compileRedactor([secret]);
    expect(r.redact(`before ${secret} after`)).toBe(`before ${REDACTED} after`);
    expect(r.redact(`${secret}${secret}`)).toBe(REDACTED);
  });

  it('removes every encoding of a canary, embedded in longer text', () => {
    const secret = canary();
    const r = compileRedactor([secret]);
    for (const [name, text] of Object.entries(encodings(secret))) {
      const out = r.redact(`{"echo":"${text}","n":1}`);
      expect(leaks(out, secret), `${name}: ${out}`).toBeUndefined();
      expect(out, name).toContain(REDACTED);
    }
  });

  it('removes a secret with special characters in every encoding', () => {
    const secret = 'p@ss w/rd+"\\\n%20é€😀ünï';
    const r = compileRedactor([secret]);
    for (const [name, text] of Object.entries(encodings(secret))) {
      const out = r.redact(text);
      expect(leaks(out, secret), `${name}: ${out}`).toBeUndefined();
    }
  });

  it('removes padded base64 at the end of a stream without leaving the tail', () => {
    const secret = 'abcdefgh';
    const r = compileRedactor([secret]);
    expect(r.redact(Buffer.from(secret).toString('base64'))).toBe(REDACTED);
    // Alignment 2: the first 3 characters mix in the prefix; everything after them goes, padding included.
    const stream = Buffer.from('xy' + secret).toString('base64');
    expect(stream.endsWith('=')).toBe(true);
    expect(r.redact(stream)).toBe(stream.slice(0, 3) + REDACTED);
  });

  it('removes partial runs of 8 or more characters of the secret core (first/last 12, masked forms)', () => {
    const secret = 'sk_live_0123456789abcdefghijXYZ';
    const r = compileRedactor([secret]);
    const head = secret.slice(0, 16); // the public prefix and 8 characters of the core
    const tail = secret.slice(-12);
    expect(r.redact(`key ${head}… ends ${tail}`)).toBe(`key sk_live_${REDACTED}… ends ${REDACTED}`);
    expect(r.redact(`mid ${secret.slice(9, 17)} end`)).toBe(`mid ${REDACTED} end`);
    // 7 characters are not a run: left alone.
    expect(r.redact(`short ${secret.slice(9, 16)} end`)).toBe(`short ${secret.slice(9, 16)} end`);
    // The public vendor prefix plus fewer than 8 core characters is not a run of the core (no oracle).
    expect(r.redact(`pre ${secret.slice(0, 12)} end`)).toBe(`pre ${secret.slice(0, 12)} end`);
  });

  it('removes short secrets only in full', () => {
    const secret = 'abc123';
    const r = compileRedactor([secret]);
    expect(r.redact('value=abc123;')).toBe(`value=${REDACTED};`);
    expect(r.redact('value=abc12;')).toBe('value=abc12;');
    expect(r.redact(Buffer.from(secret).toString('hex'))).toBe(REDACTED);
  });

  it('ignores empty and very short secrets', () => {
    const r = compileRedactor(['', 'ab']);
    expect(r.patternCount).toBe(0);
    expect(r.redact('ab abc')).toBe('ab abc');
  });

  it('handles several secrets and overlapping matches', () => {
    const a = canary();
    const b = canary();
    const r = compileRedactor([a, b]);
    expect(r.redact(`${a}|${b}|${a.slice(5, 17)}${b.slice(5, 20)}`)).toBe(
      `${REDACTED}|${REDACTED}|${REDACTED}`,
    );
  });

  it('respects a larger minRun', () => {
    const secret = canary();
    const r = compileRedactor([secret], { minRun: 12 });
    // runs are counted in the core: `cnry_` is a public prefix
    expect(r.redact(secret.slice(5, 15))).toBe(secret.slice(5, 15));
    expect(r.redact(secret.slice(5, 17))).toBe(REDACTED);
  });

  it('redactValue deep-copies JSON without mutating the input', () => {
    const secret = canary();
    const r = compileRedactor([secret]);
    const input = { a: secret, list: [1, true, null, `x${secret}x`, { [secret]: 'k' }], n: 3 };
    const snapshot = structuredClone(input);
    const out = r.redactValue(input) as Record<string, unknown>;
    expect(input).toEqual(snapshot);
    expect(out).toEqual({ a: REDACTED, list: [1, true, null, `x${REDACTED}x`, { [REDACTED]: 'k' }], n: 3 });
    expect(JSON.stringify(out)).not.toContain(secret.slice(0, 8));
  });

  // Security review of 2026-12-05: `copy[key] = …` with the key `__proto__` (an upstream's JSON
  // member, an own property after JSON.parse) set the copy's prototype: the member vanished from
  // the redacted body and its content was read through inheritance.
  it('an upstream member named __proto__ stays a member of the redacted body', () => {
    const secret = canary();
    const r = compileRedactor([secret]);
    const parsed = JSON.parse(`{"__proto__":{"role":"admin"},"a":"${secret}"}`) as unknown;
    const { value, changed } = r.redactJson(parsed);
    expect(changed).toBe(true);
    expect(JSON.stringify(value)).toBe(`{"__proto__":{"role":"admin"},"a":"${REDACTED}"}`);
    expect((value as { role?: unknown }).role).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('redactValue survives cycles', () => {
    const r = compileRedactor([canary()]);
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    expect(r.redactValue(a)).toEqual({ x: 1, self: '[Circular]' });
  });

  it('scrubText and redactorFor reuse a compiled redactor per secret set', () => {
    const secret = canary();
    expect(scrubText(`log ${secret}`, [secret])).toBe(`log ${REDACTED}`);
    expect(scrubText('nothing', [])).toBe('nothing');
    expect(redactorFor([secret])).toBe(redactorFor([secret]));
    expect(redactorFor([secret])).not.toBe(redactorFor([secret, canary()]));
  });
});

describe('redaction properties', () => {
  const secretArb = fc.oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 8, maxLength: 64 }),
    fc.string({ unit: 'binary', minLength: 8, maxLength: 40 }),
    fc.stringMatching(/^[A-Za-z0-9_-]{16,48}$/),
  );
  const surroundArb = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });

  it('no encoding of a random secret survives in random surroundings', () => {
    fc.assert(
      fc.property(secretArb, surroundArb, surroundArb, (secret, prefix, suffix) => {
        // A secret made of one repeated character would also match its surroundings; skip degenerate ones.
        fc.pre(new Set(Array.from(secret)).size >= 4);
        const r = compileRedactor([secret]);
        for (const [name, text] of Object.entries(encodings(secret, prefix, suffix))) {
          const out = r.redact(text);
          const leak = leaks(out, secret);
          if (leak !== undefined) throw new Error(`${name} leaked as ${leak}: ${JSON.stringify(out)}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('any 8-character window of the secret is removed wherever it appears', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9]{12,48}$/),
        fc.nat(),
        surroundArb,
        surroundArb,
        (secret, at, prefix, suffix) => {
          const start = at % (secret.length - 7);
          const window = secret.slice(start, start + 8 + (at % 5));
          const out = compileRedactor([secret]).redact(prefix + window + suffix);
          expect(leaks(out, secret)).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('text unrelated to the secret is unchanged', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^cnry_[A-Za-z0-9]{32}$/),
        fc.string({ unit: 'binary', maxLength: 2000 }),
        (secret, text) => {
          fc.pre(!windowsOf(secret).some((w) => text.includes(w)));
          expect(compileRedactor([secret]).redact(text)).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a large JSON body without the secret is returned unchanged', () => {
    const secret = canary();
    const r = compileRedactor([secret, 'Bearer ' + secret]);
    const item = JSON.stringify({
      id: 1,
      sha: 'deadbeefcafebabe0123456789abcdef',
      text: 'Lorem ipsum dolor sit amet',
    });
    const body = Array.from({ length: 3000 }, () => item).join('\n');
    expect(r.redact(body)).toBe(body);
    const dirty = body.slice(0, 50_000) + Buffer.from('u:' + secret).toString('base64') + body.slice(50_000);
    const out = r.redact(dirty);
    expect(leaks(out, secret)).toBeUndefined();
    expect(out.length).toBeLessThan(dirty.length);
  });
});

describe('secrets the security review of 2026-12-04 got out', () => {
  it('a short secret (4 to 7 bytes) inside a base64 stream, at every byte offset', () => {
    for (const secret of ['s3cr3t', 'pin7', '12345', 'Ab3Cd5E']) {
      const r = compileRedactor([secret]);
      for (let offset = 0; offset < 3; offset++) {
        const stream = Buffer.from(`${'a'.repeat(offset)}${secret}zz-more-data`).toString('base64');
        const out = r.redact(`{"blob":"${stream}"}`);
        expect(out, `${secret} at offset ${offset}`).toContain(REDACTED);
      }
    }
  });

  it('a non-ASCII secret in another Unicode normalization form, or as UTF-8 read as Latin-1 (a header)', () => {
    const secret = 'Grüße-Schlüssel-Größe';
    const r = compileRedactor([secret]);
    for (const form of [
      secret.normalize('NFD'),
      secret.normalize('NFKD'),
      Buffer.from(secret, 'utf8').toString('latin1'),
    ]) {
      expect(form).not.toBe(secret);
      expect(r.redact(`x-request-id: ${form}`)).toBe(`x-request-id: ${REDACTED}`);
    }
  });
});
