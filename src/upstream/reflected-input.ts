/**
 * What the agent itself sent, as the redactor needs it to stay a non-oracle (issue 12 §1).
 *
 * An upstream that echoes the agent's input (a search quoting `q`, a validation error, a created
 * object) would otherwise let the agent send candidate fragments of a key and watch which come back
 * `[REDACTED]`. The rule: a match whose secret text lies inside one piece of the agent's own input
 * is returned as it came. Then the answer is the same whether a guess was right or wrong, and the
 * agent learns nothing it did not send.
 *
 * "One piece of input" covers what upstreams do with input: one argument (any string, number or
 * key in the arguments); several arguments joined, in their order or reversed, with no separator
 * or a common one; any of these URL-decoded, base64- or hex-decoded (to printable text) or
 * JSON-unescaped before it is echoed; upper- or lower-cased. Any encoding of a reflection is
 * covered too: the redactor asks about each match twice, as the secret text it stands for and as
 * the matched text itself (a guess the agent sent hex- or base64-encoded, inside other text).
 *
 * Why one piece and not "assembled from several": an agent could send every two-character
 * sequence in one argument and have any partial run the upstream produced on its own count as
 * "assembled", unmasking it. One piece must contain the whole run: the agent must already know it.
 * Reflections this does not recognise (an upstream that reorders characters, say) are the limit
 * stated in docs/security.md; the redactor's second line (partial runs only of the secret core,
 * secret-core.ts) means such an upstream still gives no foothold without several known characters.
 *
 * The time a response takes must not tell a right guess from a wrong one: each asked text is
 * answered once per call, and an input of more than EAGER_BUILD_CHARS characters has its pieces
 * built when the call is, whether or not a response contains a match (built on the first match,
 * an input of 62 KB made a right guess about 45 ms slower than a wrong one). A smaller input is
 * built on the first match: that takes tens of microseconds, below the jitter of a call, and
 * building every call's pieces would cost every call as much (17 µs for two short arguments).
 */

/** Inputs with more characters than this (strings and keys together) are built with the call. */
const EAGER_BUILD_CHARS = 4096;
/** Strings longer than this are not decoded (bounded work per call). */
const MAX_DECODE_LENGTH = 256 * 1024;
/** Separators an upstream commonly puts between arguments it joins. */
const SEPARATORS = ['', ' ', ',', ', ', '&', '/', '-', '_', ':', ';', '|', '.', '+', '=', '\n', '\t'];

export interface ReflectedInput {
  /** True when `text` occurs inside one piece of the agent's input (see above). */
  covers(text: string): boolean;
}

export const NO_INPUT: ReflectedInput = { covers: () => false };

/**
 * Every string, number and boolean in the arguments (values), and every object key (keys), at
 * every depth: a leaf the walk skipped would not count as the agent's own, and an echo of it would
 * be an oracle again (before the security review of 2026-12-05 the walk stopped at 64 levels while
 * arguments may nest MAX_JSON_DEPTH). Iterative, in document order, so depth cannot overflow it.
 */
function leaves(args: unknown): { values: string[]; keys: string[] } {
  const out = { values: [] as string[], keys: [] as string[] };
  const stack: unknown[] = [args];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') out.values.push(value);
    else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
      out.values.push(String(value));
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (const [key] of entries) out.keys.push(key);
      for (let i = entries.length - 1; i >= 0; i--) stack.push(entries[i]![1]);
    }
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/_-]{4,}={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2}){4,}$/;
// eslint-disable-next-line no-control-regex
const NOT_PRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

/** The forms an upstream might echo instead of the string itself. */
function decodings(s: string, out: Set<string>): void {
  if (s.length > MAX_DECODE_LENGTH) return;
  if (s.includes('%') || s.includes('+')) {
    for (const form of [s, s.replace(/\+/g, ' ')]) {
      try {
        out.add(decodeURIComponent(form));
      } catch {
        // Malformed escapes: decode what a lenient server would.
        out.add(form.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
      }
    }
  }
  if (s.includes('\\')) {
    try {
      const parsed: unknown = JSON.parse(`"${s}"`);
      if (typeof parsed === 'string') out.add(parsed);
    } catch {
      // not a JSON string body
    }
  }
  if (HEX.test(s)) printable(Buffer.from(s, 'hex').toString('utf8'), out);
  if (BASE64.test(s)) {
    printable(Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'), out);
  }
}

/** Only a decoding to printable text: arbitrary bytes would be a pool of random characters. */
function printable(text: string, out: Set<string>): void {
  if (text.length > 0 && !NOT_PRINTABLE.test(text)) out.add(text);
}

/** The agent's input (validated tool arguments) as the redactor's reflection check sees it. */
export function reflectedInput(args: unknown): ReflectedInput {
  const found = leaves(args);
  if (found.values.length === 0 && found.keys.length === 0) return NO_INPUT;
  let chars = 0;
  for (const s of found.values) chars += s.length;
  for (const s of found.keys) chars += s.length;
  const build = (): readonly string[] => {
    const forms = new Set<string>();
    const add = (s: string): void => {
      if (s.length === 0) return;
      forms.add(s);
      decodings(s, forms);
    };
    for (const s of [...found.values, ...found.keys]) add(s);
    const values = found.values.filter((s) => s.length > 0);
    if (values.length > 1) {
      const reversed = [...values].reverse();
      for (const separator of SEPARATORS) {
        add(values.join(separator));
        add(reversed.join(separator));
      }
    }
    // Case-insensitive: an upstream that upper- or lower-cases what it echoes is still echoing.
    return [...forms].map((s) => s.toLowerCase());
  };

  let pieces = chars > EAGER_BUILD_CHARS ? build() : undefined;
  const answers = new Map<string, boolean>();
  return {
    covers(text: string): boolean {
      if (text.length === 0) return false;
      const needle = text.toLowerCase();
      let covered = answers.get(needle);
      if (covered === undefined) {
        pieces ??= build();
        covered = pieces.some((piece) => piece.includes(needle));
        answers.set(needle, covered);
      }
      return covered;
    },
  };
}
