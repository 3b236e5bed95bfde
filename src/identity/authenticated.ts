/** The result of authenticating one inbound request: the principal and the subject a session binds to. */
import type { Principal } from '../core/types.js';

export interface Authenticated {
  readonly principal: Principal;
  /**
   * A stable, non-secret identity for session binding (`token:<id>`, `jwt:["<iss>","<sub>","<user>"]`, `none`).
   * A session created by one subject is refused to any other.
   */
  readonly subject: string;
  /** Epoch ms when the credential stops being valid, when known (JWT `exp`). */
  readonly expiresAt?: number;
}

/** One way of turning a bearer token into a principal. */
export interface TokenVerifier {
  /** 'token' or 'jwt'. */
  readonly kind: string;
  /**
   * Returns the authenticated principal, `undefined` when the token is not of this verifier's kind
   * (so the next verifier may try), or throws AuthError('invalid_token') when it is and fails.
   */
  verify(token: string): Promise<Authenticated | undefined>;
}
