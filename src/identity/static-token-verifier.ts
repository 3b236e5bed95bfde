/** Verifies static API tokens (config identity.tokens[]) by SHA-256, in constant time. */
import type { KeywardConfig } from '../config/schema.js';
import type { Principal } from '../core/types.js';
import { AuthError } from './auth-error.js';
import type { Authenticated, TokenVerifier } from './authenticated.js';
import { findTokenHash } from './token-hash.js';

type TokenEntry = KeywardConfig['identity']['tokens'][number];

export class StaticTokenVerifier implements TokenVerifier {
  readonly kind = 'token';
  private readonly hashes: readonly string[];

  constructor(
    private readonly entries: readonly TokenEntry[],
    private readonly agents: KeywardConfig['agents'],
    /** When true, a token that matches no entry is not handed to the next verifier (no JWT configured). */
    private readonly last: boolean,
  ) {
    this.hashes = entries.map((e) => e.sha256);
  }

  verify(token: string): Promise<Authenticated | undefined> {
    const index = findTokenHash(token, this.hashes);
    const entry = index === -1 ? undefined : this.entries[index];
    if (entry === undefined) {
      if (this.last || !looksLikeJwt(token))
        return Promise.reject(new AuthError('invalid_token', 'unknown token'));
      return Promise.resolve(undefined);
    }
    const agent = this.agents[entry.agent];
    const principal: Principal = {
      agent: entry.agent,
      tenant: entry.tenant ?? agent?.tenant ?? 'default',
      ...(entry.user === undefined ? {} : { user: entry.user }),
      roles: entry.roles ?? agent?.roles ?? [],
      attributes: agent?.attributes ?? {},
      authMethod: 'token',
    };
    // The hash prefix identifies the token without being usable as one.
    const id = entry.id ?? entry.sha256.slice(0, 16);
    return Promise.resolve({ principal, subject: `token:${id}` });
  }
}

export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token);
}
