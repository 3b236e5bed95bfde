/** AuthError: why an inbound HTTP request was not authenticated (maps to 401 / 403, never to a tool result). */

export type AuthErrorKind = 'missing_token' | 'invalid_token' | 'session_mismatch';

/**
 * Thrown by principal resolution. `message` is safe to send to the client: it never contains the
 * token, a claim value or a key, only which check failed.
 */
export class AuthError extends Error {
  readonly kind: AuthErrorKind;

  constructor(kind: AuthErrorKind, message: string) {
    super(message);
    this.name = 'AuthError';
    this.kind = kind;
  }

  /** 401 for a missing or bad token (the client may authenticate), 403 for a session owned by someone else. */
  get status(): 401 | 403 {
    return this.kind === 'session_mismatch' ? 403 : 401;
  }
}

export function isAuthError(error: unknown): error is AuthError {
  return error instanceof AuthError;
}
