/**
 * Reference redactor: src/upstream/redaction.ts as it was before issue 18, verbatim except for
 * import paths, the removed caches, and the pattern set and reflection rule of the security review
 * of 2026-12-04 (short base64 cores, non-ASCII forms, a match covered by the input as it appears),
 * which follow the current redactor so that only the scan differs. Its scan visits every position of the text with a rolling
 * hash; the current redactor skips positions (a Wu–Manber shift table) and must find exactly the
 * same matches. The property test in test/unit/upstream/redaction-matcher.test.ts and
 * bench/micro/redaction.ts compare the two.
 */
import { NO_INPUT, type ReflectedInput } from '../../src/upstream/reflected-input.js';
import type { RedactionTarget } from '../../src/upstream/redaction-target.js';
import { secretCore } from '../../src/upstream/secret-core.js';
import { textForms } from '../../src/upstream/redaction.js';

export const REDACTED = '[REDACTED]';

export interface RedactorOptions {
  /** Shortest partial run (in characters of the secret core) that is removed. Default 8. */
  minRun?: number;
  /**
   * Take partial runs of the whole value instead of its core (the logger: its lines reach only the
   * operator, so there is no oracle to avoid and more is removed). Default false.
   */
  wholeValueRuns?: boolean;
}

/** JSON nested deeper than this is not walked (the caller treats the body as text). */
export const MAX_JSON_DEPTH = 256;

export class JsonTooDeep extends Error {
  constructor() {
    super(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

export interface Redactor {
  /**
   * Returns `text` with every occurrence of a secret (in any known encoding) replaced by
   * `[REDACTED]`, except matches the agent's own input accounts for (`reflected`).
   */
  redact(text: string, reflected?: ReflectedInput): string;
  /**
   * Deep copy of a JSON-like value with every string, object key and number whose text is a secret
   * redacted; never mutates input. Throws JsonTooDeep past MAX_JSON_DEPTH levels.
   */
  redactValue(value: unknown, reflected?: ReflectedInput): unknown;
  /** redactValue that also tells whether anything was removed (the caller then re-serializes). */
  redactJson(value: unknown, reflected?: ReflectedInput): { value: unknown; changed: boolean };
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

/** pattern → the secret text it stands for (what the reflection check compares with the input). */
type Patterns = Map<string, string>;

function addPattern(out: Patterns, pattern: string, raw: string): void {
  if (pattern.length >= MIN_FULL_LENGTH && !out.has(pattern)) out.set(pattern, raw);
}

/** The secret text carried by bytes [from, to) of `bytes` (clamped), as UTF-8. */
function bytesText(bytes: Buffer, from: number, to: number): string {
  return bytes.subarray(Math.max(0, from), Math.min(bytes.length, to)).toString('utf8');
}

/** Every window of `length` characters of `encoded`, each with the secret text it covers. */
function windows(
  encoded: string,
  length: number,
  out: Patterns,
  rawOf: (from: number, to: number) => string,
): void {
  for (let i = 0; i + length <= encoded.length; i++)
    addPattern(out, encoded.slice(i, i + length), rawOf(i, i + length));
}

/** Every full form of one target: it is removed whole in each encoding. */
function fullPatterns(value: string, out: Patterns): void {
  for (const form of textForms(value)) {
    const units = Array.from(form);
    for (const encode of UNIT_ENCODERS) addPattern(out, units.map(encode).join(''), value);
  }
  addPattern(out, hexOf(value, false), value);
  addPattern(out, hexOf(value, true), value);
  const b64 = base64Forms(value);
  for (const tail of b64.tails) addPattern(out, tail, value);
  for (const core of b64.cores) addPattern(out, core, value);
}

/** Partial runs of `minRun` code points of `core`, in every encoding. */
function partialPatterns(core: string, minRun: number, out: Patterns): void {
  const units = Array.from(core);
  if (units.length < minRun) return;
  for (const encode of UNIT_ENCODERS) {
    const parts = units.map(encode);
    for (let i = 0; i + minRun <= parts.length; i++) {
      addPattern(out, parts.slice(i, i + minRun).join(''), units.slice(i, i + minRun).join(''));
    }
  }
  // Byte-oriented encodings: runs of `minRun` bytes (hex) and their stable base64 characters.
  const bytes = utf8(core);
  const hexRaw = (from: number, to: number): string =>
    bytesText(bytes, Math.ceil(from / 2), Math.floor(to / 2));
  windows(hexOf(core, false), 2 * minRun, out, hexRaw);
  windows(hexOf(core, true), 2 * minRun, out, hexRaw);
  const b64Run = base64RunLength(minRun);
  const b64 = base64Forms(core);
  b64.cores.forEach((form, index) => {
    // cores come in pairs (standard, URL-safe) per alignment k of the secret in the byte stream.
    const k = Math.floor(index / 2);
    const first = Math.ceil((8 * k) / 6);
    const rawOf = (from: number, to: number): string =>
      bytesText(bytes, Math.ceil((6 * (first + from)) / 8) - k, Math.floor((6 * (first + to)) / 8) - k);
    windows(form, b64Run, out, rawOf);
  });
}

function normalizeTarget(target: string | RedactionTarget): RedactionTarget {
  return typeof target === 'string' ? { value: target, partials: true } : target;
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
  redactJson: (value) => ({ value, changed: false }),
  patternCount: 0,
};

export function compileRedactor(
  targets: readonly (string | RedactionTarget)[],
  options: RedactorOptions = {},
): Redactor {
  const minRun = Math.max(options.minRun ?? DEFAULT_MIN_RUN, MIN_FULL_LENGTH);
  const patterns: Patterns = new Map();
  for (const target of targets.map(normalizeTarget)) {
    if (typeof target.value !== 'string' || target.value.length < MIN_FULL_LENGTH) continue;
    fullPatterns(target.value, patterns);
    if (target.partials) {
      partialPatterns(
        options.wholeValueRuns === true ? target.value : secretCore(target.value),
        minRun,
        patterns,
      );
    }
  }
  if (patterns.size === 0) return EMPTY_REDACTOR;

  const index = new Map<string, string[]>();
  const short: string[] = [];
  const bitmap = new Uint32Array(1 << (HASH_BITS - 5));
  for (const p of patterns.keys()) {
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
  let shortestPattern = Infinity;
  for (const p of patterns.keys()) shortestPattern = Math.min(shortestPattern, p.length);
  // Longest first: the first pattern that matches at a position covers the most text.
  for (const list of index.values()) list.sort((a, b) => b.length - a.length);
  short.sort((a, b) => b.length - a.length);

  /** A match counts unless the agent's own input accounts for the secret text it stands for. */
  const counts = (pattern: string, reflected: ReflectedInput): boolean =>
    reflected === NO_INPUT || !(reflected.covers(patterns.get(pattern)!) || reflected.covers(pattern));

  function matches(text: string, reflected: ReflectedInput): [number, number][] {
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
              if ((p.length === KEY_LENGTH || text.startsWith(p, i)) && counts(p, reflected)) {
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
      for (let at = text.indexOf(p); at !== -1; at = text.indexOf(p, at + 1)) {
        if (counts(p, reflected)) found.push([at, at + p.length]);
      }
    }
    return found;
  }

  function redact(text: string, reflected: ReflectedInput = NO_INPUT): string {
    if (text.length < MIN_FULL_LENGTH) return text;
    const found = matches(text, reflected);
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

  interface Walk {
    readonly reflected: ReflectedInput;
    readonly seen: WeakSet<object>;
    changed: boolean;
  }

  function redactString(text: string, walk: Walk): string {
    if (text.length < shortestPattern) return text;
    const out = redact(text, walk.reflected);
    if (out !== text) walk.changed = true;
    return out;
  }

  function redactValue(value: unknown, walk: Walk, depth: number): unknown {
    if (typeof value === 'string') return redactString(value, walk);
    if (typeof value === 'number') {
      // A numeric secret (a PIN, an account number) parsed out of JSON is a number, not a string.
      const text = String(value);
      return text.length >= MIN_FULL_LENGTH && redactString(text, walk) !== text ? REDACTED : value;
    }
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_JSON_DEPTH) throw new JsonTooDeep();
    const seen = walk.seen;
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    let result: unknown;
    if (Array.isArray(value)) {
      result = value.map((item) => redactValue(item, walk, depth + 1));
    } else {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        copy[redactString(key, walk)] = redactValue(item, walk, depth + 1);
      }
      result = copy;
    }
    seen.delete(value);
    return result;
  }

  const redactJson = (
    value: unknown,
    reflected: ReflectedInput = NO_INPUT,
  ): { value: unknown; changed: boolean } => {
    const walk: Walk = { reflected, seen: new WeakSet(), changed: false };
    const out = redactValue(value, walk, 0);
    return { value: out, changed: walk.changed };
  };

  return {
    redact,
    redactJson,
    redactValue: (value, reflected = NO_INPUT) => redactJson(value, reflected).value,
    patternCount: patterns.size,
  };
}
