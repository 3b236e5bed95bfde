/**
 * Credential ref templates: `{tenant}` and `{agent}` are filled from the authenticated principal,
 * never from tool arguments, and each substituted value must be a safe path segment.
 */
import { KeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';

const SAFE_SEGMENT = /^[A-Za-z0-9_.@-]{1,128}$/;
const PLACEHOLDER = /\{(tenant|agent)\}/g;

/** True when `value` may be substituted into a ref: the safe characters, and not `.` or `..`. */
export function isSafeSegment(value: string): boolean {
  return SAFE_SEGMENT.test(value) && value !== '.' && value !== '..';
}

/** A compiled ref: `expand` fills the placeholders for one principal (or throws credential_not_found). */
export interface RefTemplate {
  readonly source: string;
  /** Whether the ref depends on the principal at all. */
  readonly templated: boolean;
  expand(principal: Pick<Principal, 'tenant' | 'agent'>): string;
}

/** Compiles a ref once at load; the config loader already rejects placeholders other than these two. */
export function compileRefTemplate(source: string): RefTemplate {
  const templated = /\{(tenant|agent)\}/.test(source);
  return {
    source,
    templated,
    expand(principal) {
      if (!templated) return source;
      return source.replace(PLACEHOLDER, (_, name: 'tenant' | 'agent') => {
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
export function expandRef(source: string, principal: Pick<Principal, 'tenant' | 'agent'>): string {
  return compileRefTemplate(source).expand(principal);
}
