/**
 * Secret redaction: removes each known secret from text in every common encoding (raw, base64 at
 * every byte alignment, percent-encoded, JSON-escaped, hex) and any partial echo of `minRun` or more
 * consecutive characters. All patterns are precomputed once; `redact` is one linear scan with a
 * rolling-hash prefilter, so its cost is proportional to the text, not to the number of patterns.
 */

export const REDACTED = '[REDACTED]';

export interface RedactorOptions {
  /** Shortest partial echo (in characters of the secret) that is removed. Default 8. */
  minRun?: number;
}

export interface Redactor {
  /** Returns `text` with every occurrence of a secret (in any known encoding) replaced by `[REDACTED]`. */
  redact(text: string): string;
  /** Deep copy of a JSON-like value with every string (and object key) redacted; never mutates input. */
  redactValue(value: unknown): unknown;
  /** Number of distinct patterns compiled (for tests and diagnostics). */
  readonly patternCount: number;
}

const DEFAULT_MIN_RUN = 8;
/** Secrets (and encodings) shorter than this are not redacted at all: they would match ordinary text. */
const MIN_FULL_LENGTH = 4;
/** Length of the key every long pattern is indexed by and the rolling hash covers. */
const KEY_LENGTH = 8;
const HASH_BITS = 18;
const HASH_MASK = (1 << HASH_BITS) - 1;
const HASH_BASE = 0x01000193;

// ---------------------------------------------------------------------------------------------
// Encodings. Each "per-unit" encoding maps one code point to a string, so the encoding of any run
// of the secret is the concatenation of the encodings of its code points.
// ---------------------------------------------------------------------------------------------

type UnitEncoder = (codePoint: string) => string;

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

function hexOf(s: string, upper: boolean): string {
  const hex = utf8(s).toString('hex');
  return upper ? hex.toUpperCase() : hex;
}

function percentAll(s: string, upper: boolean): string {
  let out = '';
  for (const byte of utf8(s)) {
    const h = byte.toString(16).padStart(2, '0');
    out += '%' + (upper ? h.toUpperCase() : h);
  }
  return out;
}

const lowerHexEscapes = (s: string): string => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());

/** application/x-www-form-urlencoded (URLSearchParams): space → `+`, and `!'()~` escaped too. */
const formEncode: UnitEncoder = (cp) => new URLSearchParams([['', cp]]).toString().slice(1);

function uEscapes(s: string, upper: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const h = s.charCodeAt(i).toString(16).padStart(4, '0');
    out += '\\u' + (upper ? h.toUpperCase() : h);
  }
  return out;
}

const UNIT_ENCODERS: readonly UnitEncoder[] = [
  (cp) => cp,
  (cp) => encodeURIComponent(cp),
  (cp) => lowerHexEscapes(encodeURIComponent(cp)),
  formEncode,
  (cp) => lowerHexEscapes(formEncode(cp)),
  (cp) => percentAll(cp, true),
  (cp) => percentAll(cp, false),
  (cp) => JSON.stringify(cp).slice(1, -1),
  (cp) => uEscapes(cp, false),
  (cp) => uEscapes(cp, true),
];

function toUrlSafe(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Base64 forms of `secret` embedded at byte offset k (0, 1, 2) of a larger stream: the "core" of
 * characters whose bits come only from the secret (stable whatever surrounds it), plus the
 * end-of-stream forms (core + final characters, with and without `=` padding).
 */
function base64Forms(secret: string): { cores: string[]; tails: string[] } {
  const bytes = utf8(secret);
  const n = bytes.length;
  const cores: string[] = [];
  const tails: string[] = [];
  for (let k = 0; k < 3; k++) {
    const first = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + n)) / 6);
    const padded = Buffer.concat([Buffer.alloc(k), bytes, Buffer.alloc(2)]).toString('base64');
    const atEnd = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const core = padded.slice(first, end);
    const tail = atEnd.slice(first);
    for (const form of [core, toUrlSafe(core)]) cores.push(form);
    for (const form of [tail, tail.replace(/=+$/, ''), toUrlSafe(tail), toUrlSafe(tail).replace(/=+$/, '')]) {
      tails.push(form);
    }
  }
  return { cores, tails };
}

/** Fewest base64 characters that are stable for a run of `bytes` bytes at any alignment. */
function base64RunLength(bytes: number): number {
  let min = Infinity;
  for (let k = 0; k < 3; k++) min = Math.min(min, Math.floor((8 * (k + bytes)) / 6) - Math.ceil((8 * k) / 6));
  return Math.max(min, MIN_FULL_LENGTH);
}

function windows(s: string, length: number, out: Set<string>): void {
  for (let i = 0; i + length <= s.length; i++) out.add(s.slice(i, i + length));
}

/** Every pattern to remove for one secret. */
function patternsFor(secret: string, minRun: number, out: Set<string>): void {
  const units = Array.from(secret);
  const long = units.length >= minRun;
  const add = (p: string): void => {
    if (p.length >= MIN_FULL_LENGTH) out.add(p);
  };

  // Each code point encoded once per encoder; runs are joins of these.
  const encoded = UNIT_ENCODERS.map((enc) => units.map(enc));
  // Full forms (also the only forms for short secrets).
  for (const parts of encoded) add(parts.join(''));
  add(hexOf(secret, false));
  add(hexOf(secret, true));
  const b64 = base64Forms(secret);
  for (const tail of b64.tails) add(tail);
  for (const core of b64.cores) if (core.length >= KEY_LENGTH) add(core);
  if (!long) return;

  // Partial echoes: every run of `minRun` code points, in every per-unit encoding.
  for (const parts of encoded) {
    for (let i = 0; i + minRun <= parts.length; i++) out.add(parts.slice(i, i + minRun).join(''));
  }
  // Byte-oriented encodings: runs of `minRun` bytes (hex) and their stable base64 characters.
  windows(hexOf(secret, false), 2 * minRun, out);
  windows(hexOf(secret, true), 2 * minRun, out);
  const b64Run = base64RunLength(minRun);
  for (const core of b64.cores) windows(core, b64Run, out);
}

// ---------------------------------------------------------------------------------------------
// Matching: patterns of at least KEY_LENGTH characters are indexed by their first KEY_LENGTH
// characters and found with a rolling hash over the text; shorter ones (full forms of short
// secrets) are found with indexOf.
// ---------------------------------------------------------------------------------------------

function powBase(exp: number): number {
  let p = 1;
  for (let i = 0; i < exp; i++) p = Math.imul(p, HASH_BASE);
  return p;
}
const BASE_POW_KEY = powBase(KEY_LENGTH - 1);

function hashKey(s: string, from: number): number {
  let h = 0;
  for (let i = 0; i < KEY_LENGTH; i++) h = (Math.imul(h, HASH_BASE) + s.charCodeAt(from + i)) | 0;
  return h;
}

const EMPTY_REDACTOR: Redactor = {
  redact: (text) => text,
  redactValue: (value) => value,
  patternCount: 0,
};

export function compileRedactor(secrets: readonly string[], options: RedactorOptions = {}): Redactor {
  const minRun = Math.max(options.minRun ?? DEFAULT_MIN_RUN, MIN_FULL_LENGTH);
  const patterns = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret === 'string' && secret.length >= MIN_FULL_LENGTH) patternsFor(secret, minRun, patterns);
  }
  if (patterns.size === 0) return EMPTY_REDACTOR;

  const index = new Map<string, string[]>();
  const short: string[] = [];
  const bitmap = new Uint32Array(1 << (HASH_BITS - 5));
  for (const p of patterns) {
    if (p.length < KEY_LENGTH) {
      short.push(p);
      continue;
    }
    const key = p.slice(0, KEY_LENGTH);
    const list = index.get(key);
    if (list) list.push(p);
    else index.set(key, [p]);
    const slot = hashKey(p, 0) & HASH_MASK;
    bitmap[slot >>> 5]! |= 1 << (slot & 31);
  }
  // Longest first: the first pattern that matches at a position covers the most text.
  for (const list of index.values()) list.sort((a, b) => b.length - a.length);
  short.sort((a, b) => b.length - a.length);

  function matches(text: string): [number, number][] {
    const found: [number, number][] = [];
    const n = text.length;
    if (index.size > 0 && n >= KEY_LENGTH) {
      let h = hashKey(text, 0);
      for (let i = 0; ; i++) {
        const slot = h & HASH_MASK;
        if ((bitmap[slot >>> 5]! & (1 << (slot & 31))) !== 0) {
          const list = index.get(text.slice(i, i + KEY_LENGTH));
          if (list) {
            for (const p of list) {
              if (p.length === KEY_LENGTH || text.startsWith(p, i)) {
                found.push([i, i + p.length]);
                break;
              }
            }
          }
        }
        if (i + KEY_LENGTH >= n) break;
        h =
          (Math.imul(h - Math.imul(text.charCodeAt(i), BASE_POW_KEY), HASH_BASE) +
            text.charCodeAt(i + KEY_LENGTH)) |
          0;
      }
    }
    for (const p of short) {
      for (let at = text.indexOf(p); at !== -1; at = text.indexOf(p, at + 1)) found.push([at, at + p.length]);
    }
    return found;
  }

  function redact(text: string): string {
    if (text.length < MIN_FULL_LENGTH) return text;
    const found = matches(text);
    if (found.length === 0) return text;
    if (short.length > 0) found.sort((a, b) => a[0] - b[0]);
    let out = '';
    let cursor = 0;
    let runStart = -1;
    let runEnd = -1;
    for (const [s, e] of found) {
      if (runStart >= 0 && s <= runEnd) {
        if (e > runEnd) runEnd = e;
        continue;
      }
      if (runStart >= 0) {
        out += text.slice(cursor, runStart) + REDACTED;
        cursor = runEnd;
      }
      runStart = s;
      runEnd = e;
    }
    out += text.slice(cursor, runStart) + REDACTED + text.slice(runEnd);
    return out;
  }

  function redactValue(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
    if (typeof value === 'string') return redact(value);
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    let result: unknown;
    if (Array.isArray(value)) {
      result = value.map((item) => redactValue(item, seen));
    } else {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) copy[redact(key)] = redactValue(item, seen);
      result = copy;
    }
    seen.delete(value);
    return result;
  }

  return { redact, redactValue: (value) => redactValue(value), patternCount: patterns.size };
}

// A few compiled redactors keyed by their secret set, so callers with a repeating set (the logger,
// the pipeline between rotations) do not recompile per line or per call.
const CACHE_SIZE = 32;
const cache = new Map<string, Redactor>();

/** compileRedactor with a small LRU keyed by the secret set (default options only). */
export function redactorFor(secrets: readonly string[]): Redactor {
  if (secrets.length === 0) return EMPTY_REDACTOR;
  const key = secrets.join('\u0000');
  let redactor = cache.get(key);
  if (redactor) {
    cache.delete(key);
  } else {
    redactor = compileRedactor(secrets);
    if (cache.size >= CACHE_SIZE) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
  }
  cache.set(key, redactor);
  return redactor;
}

/** Convenience for callers with a changing secret list (the logger): compiles once per distinct set. */
export function scrubText(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length === 0) return text;
  return redactorFor(secrets).redact(text);
}
