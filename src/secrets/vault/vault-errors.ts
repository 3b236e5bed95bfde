/** Maps node-vault / axios failures onto the error catalog (reference §4, Vault table). */
import { ConfigError, KeywardError } from '../../core/errors.js';
import { isNetworkErrorCode } from '../network-errors.js';

/** What node-vault's ApiResponseError carries (its classes are not exported: duck-typed). */
export interface VaultFailure {
  /** HTTP status, or undefined for network failures and timeouts. */
  readonly status: number | undefined;
  /** `errors[0]` of the Vault body, or '' (never forwarded to agents). */
  readonly message: string;
  /** Network error code (ECONNREFUSED, ECONNABORTED, ETIMEDOUT, ...). */
  readonly code: string | undefined;
  /** The parsed body when Vault sent JSON. */
  readonly body: unknown;
}

/** Thrown by our own per-call timeout/abort wrapper. */
export class VaultTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`vault request exceeded ${ms} ms`);
    this.name = 'VaultTimeoutError';
  }
}

export function describeVaultFailure(error: unknown): VaultFailure {
  const e = error as {
    response?: { statusCode?: number; body?: unknown };
    code?: unknown;
    message?: unknown;
  };
  const status = typeof e?.response?.statusCode === 'number' ? e.response.statusCode : undefined;
  const body = e?.response?.body;
  let message = '';
  if (body && typeof body === 'object' && Array.isArray((body as { errors?: unknown }).errors)) {
    const first = (body as { errors: unknown[] }).errors[0];
    if (typeof first === 'string') message = first;
  }
  return { status, message, code: typeof e?.code === 'string' ? e.code : undefined, body };
}

/** True for Vault's 403 on an unknown, expired or revoked client token. */
export function isInvalidToken(error: unknown): boolean {
  const f = describeVaultFailure(error);
  return f.status === 403 && f.message.includes('invalid token');
}

/** True for the 400 of a KV v2 check-and-set mismatch (a write conflict, not a credential error). */
export function isCasMismatch(error: unknown): boolean {
  const f = describeVaultFailure(error);
  return f.status === 400 && f.message.includes('check-and-set');
}

/** True when a KV v2 404 carries metadata of a soft-deleted or destroyed version. */
function isDeletedVersion(body: unknown, now: number): boolean {
  const metadata = (body as { data?: { metadata?: { deletion_time?: unknown; destroyed?: unknown } } })?.data
    ?.metadata;
  if (!metadata) return false;
  if (metadata.destroyed === true) return true;
  if (typeof metadata.deletion_time === 'string' && metadata.deletion_time !== '') {
    const at = Date.parse(metadata.deletion_time);
    return Number.isFinite(at) && at <= now;
  }
  return false;
}

/**
 * Turns any failure of a Vault call into a KeywardError. `backend` is the config name of the
 * backend (safe to show). Messages never hold the path, the body or a value; `detail` holds a
 * short, secret-free classification for the server log.
 */
export function mapVaultError(error: unknown, backend: string, now: number = Date.now()): KeywardError {
  if (error instanceof KeywardError) return error;
  if (error instanceof ConfigError) {
    return new KeywardError(
      'credential_invalid',
      `Vault backend "${backend}" cannot read its own login credential`,
      {
        detail: error.message,
      },
    );
  }
  const f = describeVaultFailure(error);
  const label = `Vault backend "${backend}"`;
  if (f.status === undefined) {
    const code = f.code ?? (error instanceof VaultTimeoutError ? 'ETIMEDOUT' : 'unknown');
    const timeout = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || error instanceof VaultTimeoutError;
    if (timeout || isNetworkErrorCode(code)) {
      return new KeywardError(
        'secret_backend_unavailable',
        timeout ? `${label} did not answer in time` : `${label} is unreachable`,
        { retryAfterSeconds: 2, detail: `vault network failure ${code}` },
      );
    }
    return new KeywardError('secret_backend_unavailable', `${label} failed`, {
      retryAfterSeconds: 2,
      detail: `vault client failure ${code}`,
    });
  }
  const status = f.status;
  const detail = `vault status ${status}`;
  const msg = f.message;
  if (status === 403) {
    if (msg.includes('invalid token')) {
      return new KeywardError(
        'credential_expired',
        `${label}: keyward's Vault token expired or was revoked`,
        {
          detail: `${detail} invalid token`,
        },
      );
    }
    return new KeywardError('credential_invalid', `${label} denied access to the credential (Vault policy)`, {
      detail: `${detail} permission denied`,
    });
  }
  if (status === 404) {
    if (isDeletedVersion(f.body, now)) {
      return new KeywardError('credential_revoked', `${label}: the credential was deleted or destroyed`, {
        detail: `${detail} deleted or destroyed version`,
      });
    }
    return new KeywardError('credential_not_found', `${label}: no such credential`, { detail });
  }
  if (status === 400) {
    if (msg.includes('invalid role or secret ID')) {
      return new KeywardError(
        'credential_invalid',
        `${label}: AppRole login was refused (role_id or secret_id)`,
        {
          detail: `${detail} approle login refused`,
        },
      );
    }
    if (msg.includes('lease expired') || msg.includes('lease is expired')) {
      return new KeywardError('credential_expired', `${label}: the credential's lease expired`, {
        detail: `${detail} lease expired`,
      });
    }
    if (msg.includes('lease not found')) {
      return new KeywardError('credential_revoked', `${label}: the credential's lease was revoked`, {
        detail: `${detail} lease not found`,
      });
    }
    if (msg.includes('check-and-set')) {
      return new KeywardError(
        'secret_backend_unavailable',
        `${label}: a concurrent write conflicted; retry`,
        {
          retryAfterSeconds: 1,
          detail: `${detail} cas mismatch`,
        },
      );
    }
    return new KeywardError('credential_invalid', `${label} rejected the request`, { detail });
  }
  if (status === 429) {
    return new KeywardError('secret_backend_unavailable', `${label} is rate limiting keyward`, {
      retryAfterSeconds: 1,
      detail: `${detail} rate limited`,
    });
  }
  if (status === 503) {
    const sealed = msg.toLowerCase().includes('sealed');
    return new KeywardError(
      'secret_backend_unavailable',
      sealed ? `${label} is sealed` : `${label} is unavailable`,
      { retryAfterSeconds: sealed ? 10 : 2, detail: `${detail}${sealed ? ' sealed' : ''}` },
    );
  }
  if (status >= 500 || status === 412 || status === 423) {
    return new KeywardError('secret_backend_unavailable', `${label} is unavailable`, {
      retryAfterSeconds: 2,
      detail,
    });
  }
  return new KeywardError('credential_invalid', `${label} rejected the request`, { detail });
}
