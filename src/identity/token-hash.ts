/** Static API tokens: generation, SHA-256 hashing and constant-time lookup by hash. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix that makes keyward tokens recognisable to secret scanners and to the JWT/static split. */
export const TOKEN_PREFIX = 'kw_';

/** A new random token: `kw_` + 43 base64url characters (256 bits). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Index of the entry whose hash equals the token's hash, or -1. Compares against every entry with
 * timingSafeEqual and never returns early, so timing reveals neither which entry matched nor how
 * many hash bytes agreed.
 */
export function findTokenHash(token: string, hashes: readonly string[]): number {
  const actual = Buffer.from(sha256Hex(token), 'hex');
  let found = -1;
  for (let i = 0; i < hashes.length; i++) {
    const candidate = Buffer.from(hashes[i] ?? '', 'hex');
    const same = candidate.length === actual.length && timingSafeEqual(candidate, actual);
    if (same && found === -1) found = i;
  }
  return found;
}
