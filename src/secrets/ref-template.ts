/**
 * Credential ref templates: `{tenant}`, `{agent}` and `{user}` are filled from the authenticated principal,
 * never from tool arguments, and each substituted value must be a safe path segment.
 */
import { KeywardError } from '../core/errors.js';
import { PLACEHOLDER } from '../core/placeholders.js';
import type { Principal } from '../core/types.js';

/** The characters a substituted value may hold; anything else is a separator no value can contain. */
const SAFE_SEGMENT = /^[A-Za-z0-9_.@-]{1,128}$/;
const SAFE_CHAR = /[A-Za-z0-9_.@-]/;
/** Refs use the one placeholder grammar (core/placeholders.ts); only PRINCIPAL_PLACEHOLDERS are allowed. */
const ANY_PLACEHOLDER = PLACEHOLDER;
const PRINCIPAL_PLACEHOLDER = /\{(tenant|agent|user)\}/g;
export const PRINCIPAL_PLACEHOLDERS: readonly string[] = ['tenant', 'agent', 'user'];

/** Every `{name}` in a ref, allowed or not (config validation names the others). */
export function refPlaceholders(source: string): string[] {
  return [...source.matchAll(ANY_PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Why two principals could expand `source` to the same ref, or undefined when they cannot.
 * Substituted values are safe segments, so the expansion can be split back into its values
 * exactly when every two placeholders are separated by at least one character no value may hold
 * (`/`, `:`, `+`, …). `keys/{tenant}-{agent}` is refused: tenant `a-b` with agent `c` and tenant
 * `a` with agent `b-c` both give `keys/a-b-c`.
 */
export function refCollision(source: string): string | undefined {
  const parts = source.split(ANY_PLACEHOLDER);
  // split with one capture group: literal, name, literal, name, …, literal
  for (let i = 2; i < parts.length - 1; i += 2) {
    const between = parts[i]!;
    if (![...between].some((c) => !SAFE_CHAR.test(c))) {
      return `{${parts[i - 1]}} and {${parts[i + 1]}} are separated by ${between === '' ? 'nothing' : `"${between}"`}, which a name may contain: two principals could get the same ref; separate them with "/"`;
    }
  }
  return undefined;
}

/** True when `value` may be substituted into a ref: the safe characters, and not `.` or `..`. */
export function isSafeSegment(value: string): boolean {
  return SAFE_SEGMENT.test(value) && value !== '.' && value !== '..';
}

/** A compiled ref: `expand` fills the placeholders for one principal (or throws credential_not_found). */
export interface RefTemplate {
  readonly source: string;
  /** Whether the ref depends on the principal at all. */
  readonly templated: boolean;
  expand(principal: Pick<Principal, 'tenant' | 'agent' | 'user'>): string;
}

/** Compiles a ref once at load; the config loader already rejects placeholders other than these. */
export function compileRefTemplate(source: string): RefTemplate {
  const templated = refPlaceholders(source).some((name) => PRINCIPAL_PLACEHOLDERS.includes(name));
  return {
    source,
    templated,
    expand(principal) {
      if (!templated) return source;
      return source.replace(PRINCIPAL_PLACEHOLDER, (_, name: 'tenant' | 'agent' | 'user') => {
        const value = principal[name];
        if (typeof value !== 'string' || !isSafeSegment(value)) {
          throw new KeywardError('credential_not_found', `no credential for this ${name}`, {
            detail: `${name} is not a safe ref segment`,
          });
        }
        return value;
      });
    },
  };
}

/** One-off expansion (compiles on each call; prefer compileRefTemplate on hot paths). */
export function expandRef(source: string, principal: Pick<Principal, 'tenant' | 'agent' | 'user'>): string {
  return compileRefTemplate(source).expand(principal);
}
