/**
 * Text that came from an agent, an upstream or a store, made safe to show a human (issue 12 §3,
 * §4). A prompt-injected agent writes justifications and arguments; shown verbatim, a
 * `\r\e[2K\e[1A…` rewrites the operator's terminal (a pending `admin:wipe` row reads `repo:read`),
 * and a newline forges a line of an approval prompt. Every control character (C0, DEL, C1), the
 * bidi embedding/override/isolate marks and zero-width characters are shown as visible escapes,
 * never interpreted. Printable text, including non-Latin scripts, is kept, but for words that
 * disguise themselves as others (mixed look-alike scripts, fullwidth or mathematical letters).
 */

/**
 * Everything a human cannot see or that changes how the text around it is shown, by Unicode
 * property rather than by a hand-kept list (a list missed the tag characters U+E0000–E007F that
 * smuggle invisible ASCII, U+00AD, U+180E, the Hangul fillers and lone surrogates):
 * Cc control (C0 incl. ESC, CR, LF, BEL, TAB; DEL; C1), Cf format (bidi marks, overrides and
 * isolates, zero-width characters, BOM, tags, interlinear annotations), Cs lone surrogates,
 * Zl/Zp line and paragraph separators, and every default-ignorable code point (variation
 * selectors, fillers), which renderers draw as nothing.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function visible(char: string): string {
  return NAMED[char] ?? `\\u{${char.codePointAt(0)!.toString(16).padStart(4, '0')}}`;
}

/**
 * Scripts whose letters pass for each other's (UTS #39 confusables: Cyrillic а/a, Greek ο/o,
 * Armenian ս/u, Cherokee Ꭺ/A). A word that mixes two of them is a disguise, not a spelling: the
 * agent's `gооgle.com` (Cyrillic о) or branch `mаin` reads as the real one to an operator.
 */
const LOOKALIKE_SCRIPTS = [
  /\p{Script=Latin}/u,
  /\p{Script=Greek}/u,
  /\p{Script=Cyrillic}/u,
  /\p{Script=Armenian}/u,
  /\p{Script=Cherokee}/u,
];

/** A word: a run of letters, marks and digits (what a look-alike hides in). */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const ASCII = /^[\x20-\x7e]*$/;

/**
 * Whether one character of a word is a look-alike: outside ASCII and either written like ASCII
 * (fullwidth `ｇ`, mathematical `𝐠`, ligature `ﬁ`, whose compatibility form is ASCII) or in a word
 * that mixes look-alike scripts.
 */
function disguised(word: string): boolean {
  if (ASCII.test(word)) return false;
  let scripts = 0;
  for (const script of LOOKALIKE_SCRIPTS) if (script.test(word)) scripts++;
  if (scripts > 1) return true;
  return Array.from(word).some((c) => !ASCII.test(c) && ASCII.test(c.normalize('NFKC')));
}

/** A disguised word with every character outside ASCII shown by its code point. */
function unmask(word: string): string {
  return disguised(word) ? word.replace(/[^\x20-\x7e]/gu, visible) : word;
}

/**
 * `text` with every unsafe character replaced by a visible escape (`\e`, `\r`, `\u{202e}`), and
 * every look-alike letter of a disguised word too (`g\u{043e}\u{043e}gle`). Words of one script,
 * in any script, are kept as they are.
 */
export function escapeUntrusted(text: string): string {
  return text.replace(UNSAFE, visible).replace(WORD, unmask);
}

/** Escaped and cut to `max` characters (an ellipsis marks the cut). */
export function boundUntrusted(text: string, max: number): string {
  const escaped = escapeUntrusted(text);
  const units = Array.from(escaped);
  return units.length > max ? `${units.slice(0, max - 1).join('')}…` : escaped;
}

// Unicode bidi isolates (UAX #9): text between FSI/LRI and PDI is laid out on its own, so right-
// to-left letters in it cannot move the characters around it, nor be moved by them. The agent's
// text cannot open or close one: escapeUntrusted shows every format character as an escape.
const LRI = '\u2066';
const FSI = '\u2068';
const PDI = '\u2069';

/**
 * For a plain-text prompt a human reads: escaped, bounded, in visible quotes, so where the agent's
 * text starts and ends cannot be forged (a `"` inside is escaped too), and isolated, so its
 * right-to-left letters cannot draw the prompt's own words in another order.
 */
export function quoteUntrusted(text: string, max = 500): string {
  return `"${FSI}${boundUntrusted(text.replace(/\\/g, '\\\\').replace(/"/g, '\\"'), max)}${PDI}"`;
}

/** One piece of rendered JSON: `s` marks a string token, which a view isolates (<bdi>, FSI…PDI). */
export interface JsonPart {
  readonly t: string;
  readonly s?: true;
}

/** A JSON string token; an unterminated one (a clipped summary) runs to the end. */
const JSON_STRING = /"(?:[^"\\]|\\.)*(?:"|$)/g;

/**
 * JSON text (possibly clipped) cut into string tokens and the rest, each part escaped (JSON leaves
 * bidi marks and other invisible characters raw), so the view can isolate every string.
 */
export function jsonParts(text: string): JsonPart[] {
  // Between tokens, the pretty-printer's own line breaks stay line breaks.
  const between = (raw: string): JsonPart => ({ t: raw.split('\n').map(escapeUntrusted).join('\n') });
  const parts: JsonPart[] = [];
  let at = 0;
  for (const match of text.matchAll(JSON_STRING)) {
    if (match.index > at) parts.push(between(text.slice(at, match.index)));
    parts.push({ t: escapeUntrusted(match[0]), s: true });
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(between(text.slice(at)));
  return parts;
}

/**
 * JSON text (the agent's arguments, possibly clipped) for a plain-text prompt: everything escaped,
 * each string token isolated, the whole laid out left to right. Unisolated, `{"אאא":"בבב"}` is one
 * right-to-left run and the value is drawn where the key should be (the console's <bdi> does the
 * same for HTML).
 */
export function isolatedJson(text: string): string {
  return `${LRI}${jsonParts(text)
    .map((part) => (part.s === true ? `${FSI}${part.t}${PDI}` : part.t))
    .join('')}${PDI}`;
}
