/**
 * SecretBackend: where credentials live (file, Vault, AWS Secrets Manager, env).
 * Implementations throw KeywardError with one of: credential_not_found, credential_revoked,
 * credential_expired, credential_invalid, secret_backend_unavailable. Error messages must be safe
 * for the agent: no secret value, no backend path, no raw backend error body.
 */
import type { Clock } from '../core/clock.js';
import type { ProbeResult, Secret, SecretRequest } from '../core/types.js';
import type { Logger } from '../observability/logger.js';

export interface GetOptions {
  readonly signal?: AbortSignal;
  /**
   * The version the caller last used, when it is re-fetching after the upstream rejected it (401/403).
   * Backends with staged rotation (AWS) may then try the current or pending version.
   */
  readonly rejectedVersion?: string;
}

export interface SecretSummary {
  readonly name: string;
  readonly version: string;
  readonly createdAt?: string;
  readonly updatedAt?: string;
}

export interface RotateOptions {
  /** AWS: call RotateSecret (the backend's rotation function) instead of writing a value. */
  readonly trigger?: boolean;
}

export interface SecretBackend {
  /** The backend type, e.g. 'file', 'vault', 'aws-secrets-manager', 'env'. For messages only: */
  /** what differs between backends is stated by the properties below, never by comparing kinds. */
  readonly kind: string;
  /**
   * True when a secret is stored as one string (a JSON object of fields lives inside it), so one
   * `rotate` writes every field at once; false where fields are separate keys (Vault KV).
   */
  readonly storesOneString: boolean;
  /** What an operator grants so keyward may read a secret here (shown by `check --probe`). */
  readonly readPermissionHint: string;
  /** Fetches the current (or pinned) value. Must honour its own timeout; never hangs. */
  get(request: SecretRequest, options?: GetOptions): Promise<Secret>;
  /** Writes a new version (a value is given) or triggers rotation. Optional: read-only backends omit it. */
  rotate?(ref: string, newValue: string | undefined, options?: RotateOptions): Promise<{ version: string }>;
  /** Creates or replaces a value. Optional. */
  set?(ref: string, value: string): Promise<{ version: string }>;
  /** Removes a value. Optional. */
  remove?(ref: string): Promise<void>;
  /** Lists names and versions, never values. Optional. */
  list?(): Promise<SecretSummary[]>;
  /** Renews what needs renewing (Vault token and leases); called by the resolver before expiry. Optional. */
  renew?(secret: Secret): Promise<Secret | undefined>;
  /**
   * Subscribes to changes made outside this process (another `keyward secrets rotate`, a Vault
   * version bump seen by polling). The resolver drops cached copies of the named ref (or all, when
   * ref is undefined). Optional.
   */
  onChange?(listener: (ref: string | undefined) => void): void;
  /** Checks connectivity and permissions; never throws. */
  probe(): Promise<ProbeResult>;
  /** Releases connections, timers and leases (Vault revokes leases here). Idempotent. */
  close(): Promise<void>;
}

export interface BackendDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Directory relative paths are resolved against. */
  readonly baseDir: string;
}
