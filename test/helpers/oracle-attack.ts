/**
 * The sliding-window attack on a redactor (issue 12 §1): the agent knows the public beginning of an
 * injected value (`Bearer `, `Basic ` + base64 of a fixed username, a vendor prefix), sends every
 * candidate for the next character in one call through an upstream that reflects its input, and
 * keeps the candidate that does not come back as sent. Returns how many characters beyond the
 * public prefix it recovered.
 */
export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const BASE64_CHARS = BASE62 + '+/';

export interface OracleProbe {
  /**
   * Sends `candidates` to a reflecting upstream through keyward and returns what the agent got
   * back (all of it, text and structured, as one string).
   */
  (candidates: readonly string[]): Promise<string>;
}

export interface AttackOptions {
  /** The value the redactor protects, as injected (e.g. `Bearer sk_live_…`). */
  readonly target: string;
  /** How many leading characters of `target` the attacker knows. */
  readonly publicLength: number;
  readonly alphabet: string;
  /** Window length the attack assumes (the old redactor matched 8-character runs). */
  readonly window?: number;
  /** Stop after this many characters (bounded test time). */
  readonly maxSteps?: number;
}

export async function slidingWindowAttack(probe: OracleProbe, options: AttackOptions): Promise<number> {
  const window = options.window ?? 8;
  const maxSteps = options.maxSteps ?? options.target.length - options.publicLength;
  let known = options.target.slice(0, options.publicLength);
  for (let step = 0; step < maxSteps && known.length < options.target.length; step++) {
    const stem = known.slice(-(window - 1));
    const candidates = Array.from(options.alphabet, (c) => stem + c);
    const answer = await probe(candidates);
    const hidden = candidates.filter((candidate) => !answer.includes(candidate));
    if (hidden.length !== 1) break;
    known += hidden[0]!.slice(-1);
  }
  const recovered = known.length - options.publicLength;
  // Only count what is right (an attacker cannot tell, but the test can).
  return options.target.startsWith(known) ? recovered : 0;
}
