/**
 * Secret redaction: removes each known secret from text in every common encoding (raw, base64 at
 * every byte alignment, percent-encoded, JSON-escaped, hex) and any partial run of `minRun` or more
 * consecutive characters of a secret's core (secret-core.ts). All patterns are precomputed once per
 * target set (one redactor per credential version, cached below); `redact` is one scan of the text
 * for all of them that skips the positions where no pattern can start (a Wu–Manber shift table), so
 * its cost grows with the text, not with the number of patterns, and on ordinary text it visits
 * about one position in seven.
 *
 * Not an oracle (issue 12 §1): each pattern remembers the secret text it stands for, and a match
 * whose secret text the agent itself sent (reflected-input.ts) is left as it came, so what the agent
 * gets back does not depend on whether its guesses were right. Wrappers with public beginnings
 * (`Bearer …`) are matched only whole.
 */
import { setOwn } from '../core/own-property.js';
import { NO_INPUT, type ReflectedInput } from './reflected-input.js';
import type { RedactionTarget } from './redaction-target.js';
import { secretCore } from './secret-core.js';

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
  /**
   * Replaces, in place, every number of a value the caller has just parsed (and owns) whose text, as
   * JavaScript writes it, holds a secret: JSON.parse rewrites number text (`839104.726501e6` is
   * 839104726501), so the text pass cannot have seen it. Strings and keys are left alone.
   */
  redactNumbers(value: unknown, reflected?: ReflectedInput): { value: unknown; changed: boolean };
  /**
   * True when some pattern holds a JSON structural character (`"{}[],:`): a serialization of a
   * parsed body (which drops whitespace, moves integer-like keys first and merges repeated keys)
   * can then join text the body kept apart into a secret, and must be scanned again.
   */
  readonly spansJsonSyntax: boolean;
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
  // Cores shorter than the scan key (a secret of 4 to 7 bytes) are found by indexOf.
  for (const core of b64.cores) addPattern(out, core, value);
}

/**
 * The texts a non-ASCII secret can arrive as: its Unicode normalization forms (an upstream may
 * normalise what it echoes), and its UTF-8 bytes read as Latin-1 (how a response header value
 * reaches keyward: undici decodes header bytes as Latin-1).
 */
export function textForms(value: string): string[] {
  // eslint-disable-next-line no-control-regex
  if (/^[\u0000-\u007f]*$/.test(value)) return [value];
  const forms = new Set([value]);
  for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD'] as const) forms.add(value.normalize(form));
  forms.add(utf8(value).toString('latin1'));
  return [...forms];
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
// characters (their key); shorter ones (full forms of short secrets) are found with indexOf.
//
// The scan looks at the key-sized window at each candidate position i and reads its last two
// characters (a block). SHIFT[block] is how far the window may move without passing the start of
// any key: KEY_LENGTH − 1 − q for the smallest such distance over every key containing the block
// ending at offset q, and KEY_LENGTH − 1 for a block no key contains (Wu and Manber, "A fast
// algorithm for multi-pattern searching", 1994). Blocks share table slots, and a shared slot keeps
// the smallest shift, so a collision only costs speed. Only at shift 0 is the window's key looked
// up (hash bitmap first, then the index). Every position where a key starts is therefore visited,
// as the previous scan (one rolling hash at every position) did: the matches are the same.
// ---------------------------------------------------------------------------------------------

const BLOCK_BITS = 14;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;
/** Two UTF-16 units → a table slot; distinct for every pair of ASCII characters. */
const blockSlot = (a: number, b: number): number => ((a << 7) ^ b) & BLOCK_MASK;

function hashKey(s: string, from: number): number {
  let h = 0;
  for (let i = 0; i < KEY_LENGTH; i++) h = (Math.imul(h, HASH_BASE) + s.charCodeAt(from + i)) | 0;
  return h;
}

const EMPTY_REDACTOR: Redactor = {
  redact: (text) => text,
  redactValue: (value) => value,
  redactJson: (value) => ({ value, changed: false }),
  redactNumbers: (value) => ({ value, changed: false }),
  patternCount: 0,
  spansJsonSyntax: false,
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
  const shift = new Uint8Array(1 << BLOCK_BITS).fill(KEY_LENGTH - 1);
  for (const p of patterns.keys()) {
    if (p.length < KEY_LENGTH) {
      short.push(p);
      continue;
    }
    const key = p.slice(0, KEY_LENGTH);
    const list = index.get(key);
    if (list) {
      list.push(p);
      continue;
    }
    index.set(key, [p]);
    const slot = hashKey(p, 0) & HASH_MASK;
    bitmap[slot >>> 5]! |= 1 << (slot & 31);
    for (let q = 1; q < KEY_LENGTH; q++) {
      const block = blockSlot(key.charCodeAt(q - 1), key.charCodeAt(q));
      shift[block] = Math.min(shift[block]!, KEY_LENGTH - 1 - q);
    }
  }
  let shortestPattern = Infinity;
  for (const p of patterns.keys()) shortestPattern = Math.min(shortestPattern, p.length);
  // Longest first: the first pattern that matches at a position covers the most text.
  for (const list of index.values()) list.sort((a, b) => b.length - a.length);
  short.sort((a, b) => b.length - a.length);

  /**
   * A match counts unless the agent's own input accounts for it: the secret text it stands for, or
   * the matched text itself as it appears (an agent that sends its guess hex- or base64-encoded,
   * alone or inside other text, to an upstream that echoes it as sent).
   */
  const counts = (pattern: string, reflected: ReflectedInput): boolean =>
    reflected === NO_INPUT || !(reflected.covers(patterns.get(pattern)!) || reflected.covers(pattern));
  const spansJsonSyntax = [...patterns.keys()].some((p) => /["{}[\],:]/.test(p));

  function matches(text: string, reflected: ReflectedInput): [number, number][] {
    const found: [number, number][] = [];
    const n = text.length;
    if (index.size > 0) {
      for (let i = 0; i + KEY_LENGTH <= n;) {
        const skip =
          shift[blockSlot(text.charCodeAt(i + KEY_LENGTH - 2), text.charCodeAt(i + KEY_LENGTH - 1))]!;
        if (skip > 0) {
          i += skip;
          continue;
        }
        const slot = hashKey(text, i) & HASH_MASK;
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
        i++;
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
        setOwn(copy, redactString(key, walk), redactValue(item, walk, depth + 1));
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

  const isSecretNumber = (n: number, reflected: ReflectedInput): boolean => {
    const text = String(n);
    return text.length >= shortestPattern && redact(text, reflected) !== text;
  };

  const redactNumbers = (
    value: unknown,
    reflected: ReflectedInput = NO_INPUT,
  ): { value: unknown; changed: boolean } => {
    if (typeof value === 'number') {
      return isSecretNumber(value, reflected)
        ? { value: REDACTED, changed: true }
        : { value, changed: false };
    }
    let changed = false;
    // Iterative: the caller's value is already bounded in depth, but a stack costs nothing here.
    const stack: unknown[] = [value];
    while (stack.length > 0) {
      const item = stack.pop();
      if (item === null || typeof item !== 'object') continue;
      const container = item as Record<string, unknown>;
      for (const key of Array.isArray(item) ? item.keys() : Object.keys(item)) {
        const child = container[key];
        if (typeof child === 'number') {
          if (isSecretNumber(child, reflected)) {
            container[key] = REDACTED;
            changed = true;
          }
        } else if (child !== null && typeof child === 'object') {
          stack.push(child);
        }
      }
    }
    return { value, changed };
  };

  return {
    redact,
    redactJson,
    redactNumbers,
    redactValue: (value, reflected = NO_INPUT) => redactJson(value, reflected).value,
    patternCount: patterns.size,
    spansJsonSyntax,
  };
}

// A few compiled redactors keyed by their target set, so callers with a repeating set (the logger,
// the pipeline between rotations) do not recompile per line or per call.
const CACHE_SIZE = 32;

function lruCache(): (key: string, compile: () => Redactor) => Redactor {
  const cache = new Map<string, Redactor>();
  return (key, compile) => {
    let redactor = cache.get(key);
    if (redactor) {
      cache.delete(key);
    } else {
      redactor = compile();
      if (cache.size >= CACHE_SIZE) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
    }
    cache.set(key, redactor);
    return redactor;
  };
}

const pipelineCache = lruCache();
const logCache = lruCache();

/** compileRedactor with a small LRU keyed by the target set (default options only). */
export function redactorFor(targets: readonly (string | RedactionTarget)[]): Redactor {
  if (targets.length === 0) return EMPTY_REDACTOR;
  const key = targets
    .map((t) => (typeof t === 'string' ? `p${t}` : `${t.partials ? 'p' : 'w'}${t.value}`))
    .join('\u0000');
  return pipelineCache(key, () => compileRedactor(targets));
}

/**
 * Log scrubbing (observability/logger.ts): lines reach only the operator, so no agent can use the
 * redactor as an oracle there; it removes more (every 8-character run of every value, wrappers too).
 */
export const LOG_MIN_RUN = 8;

/** The log scrubber of a set of secrets: whole values and runs of LOG_MIN_RUN, in every encoding. */
export function compileLogScrubber(secrets: readonly string[]): Redactor {
  return compileRedactor(secrets, { minRun: LOG_MIN_RUN, wholeValueRuns: true });
}

/** Scrubs log text; compiles once per distinct secret set. */
export function scrubText(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length === 0) return text;
  return logCache(secrets.join('\u0000'), () => compileLogScrubber(secrets)).redact(text);
}
