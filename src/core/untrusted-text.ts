/**
 * Text that came from an agent, an upstream or a store, made safe to show a human (issue 12 §3,
 * §4). A prompt-injected agent writes justifications and arguments; shown verbatim, a
 * `\r\e[2K\e[1A…` rewrites the operator's terminal (a pending `admin:wipe` row reads `repo:read`),
 * and a newline forges a line of an approval prompt. Every control character (C0, DEL, C1), the
 * bidi embedding/override/isolate marks and zero-width characters are shown as visible escapes,
 * never interpreted. Printable text, including non-Latin scripts, is kept.
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

/** `text` with every unsafe character replaced by a visible escape (`\e`, `\r`, `\u{202e}`). */
export function escapeUntrusted(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** Escaped and cut to `max` characters (an ellipsis marks the cut). */
export function boundUntrusted(text: string, max: number): string {
  const escaped = escapeUntrusted(text);
  const units = Array.from(escaped);
  return units.length > max ? `${units.slice(0, max - 1).join('')}…` : escaped;
}

/**
 * For a prompt a human reads: escaped, bounded, in visible quotes, so where the agent's text
 * starts and ends cannot be forged (a `"` inside is escaped too).
 */
export function quoteUntrusted(text: string, max = 500): string {
  return `"${boundUntrusted(text.replace(/\\/g, '\\\\').replace(/"/g, '\\"'), max)}"`;
}
