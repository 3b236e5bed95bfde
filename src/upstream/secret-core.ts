/**
 * The part of a credential an attacker cannot already know. Vendor keys carry public prefixes
 * (`sk_live_`, `ghp_`, `xoxb-`), and formatted values public wrappers (`Bearer `, `Basic ` plus the
 * base64 of a fixed username). A partial-run redactor that matched windows reaching into those
 * public characters would confirm guesses one character at a time (issue 12 §1), so partial runs
 * are taken from the core only, and wrappers are only ever matched whole (RedactionTarget.partials).
 */

/** One to three leading alphabetic segments ended by `_` or `-`: `sk_live_`, `ghp_`, `xoxb-`, `pat-`. */
const VENDOR_PREFIX = /^(?:[A-Za-z]{1,12}[_-]){1,3}/;

/** The credential without a public vendor prefix (the whole value when none is recognised). */
export function secretCore(value: string): string {
  const match = VENDOR_PREFIX.exec(value);
  if (match === null) return value;
  const core = value.slice(match[0].length);
  // A value that is all "prefix" (e.g. `my-pass-word-`) has no recognisable vendor shape: keep it.
  return core.length >= 8 ? core : value;
}
