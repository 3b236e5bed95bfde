/**
 * Upstream-controlled text (a header value, a status line) quoted into an agent-visible error.
 * The upstream may be hostile: its text is bounded, stripped of control and bidi characters (no
 * forged lines, no prompt-shaped walls of text) and quoted. Redaction still applies afterwards
 * (the redact step redacts every error message), so case is never changed here.
 */
export const MAX_UPSTREAM_TEXT = 64;

// C0 and C1 controls, DEL, and the bidi embedding/override/isolate marks.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function quoteUpstreamText(value: string, max: number = MAX_UPSTREAM_TEXT): string {
  const clean = value.replace(UNSAFE, '');
  const units = Array.from(clean);
  const bounded = units.length > max ? units.slice(0, max).join('') + '…' : clean;
  return JSON.stringify(bounded);
}
