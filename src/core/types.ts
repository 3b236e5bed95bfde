/** Core shared types: the principal, secrets, audit events and the context of one tool call. */
import type { AuditEventType } from './audit-events.js';

/** Who is calling. Comes from config (stdio) or a verified token (HTTP); never from tool arguments. */
export interface Principal {
  readonly agent: string;
  readonly tenant: string;
  /**
   * The person the agent acts for (issue 16: per-user OAuth connections): a JWT claim (`sub` by
   * default) in remote mode, `identity.stdio.user` or a token's `user` otherwise. Absent when the
   * identity does not name one; `{user}` refs then resolve to nothing.
   */
  readonly user?: string;
  readonly roles: readonly string[];
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** How the principal was established: 'stdio', 'token', 'jwt'. */
  readonly authMethod: string;
}

/** What a credential's `ref` asks a backend for, after principal templating. */
export interface SecretRequest {
  /** Backend-specific path or name, e.g. `tenants/acme/github`. */
  readonly ref: string;
  /** A field inside a structured secret (KV v2 data key, JSON key in an AWS string secret). */
  readonly field?: string;
  /** Pin a version (Vault KV version number, AWS VersionId, file store version). */
  readonly version?: string;
  /** AWS version stage (`AWSCURRENT` by default). */
  readonly stage?: string;
}

/** A secret value fetched from a backend. `value` is the only secret-bearing field. */
export interface Secret {
  readonly value: string;
  /** Backend version of the value (KV version, AWS VersionId, file version). Safe to log. */
  readonly version: string;
  /** Non-secret identifier of the key, safe to audit (e.g. `file:github`). */
  readonly keyId: string;
  /** Epoch ms after which the value must not be used (lease end, token expiry). */
  readonly expiresAt?: number;
  readonly leaseId?: string;
  readonly renewable?: boolean;
  /** Extra named values of the same secret (e.g. basic-auth username, OAuth client id). */
  readonly fields?: Readonly<Record<string, string>>;
  /** Non-secret metadata of the secret (Vault KV `custom_metadata`); safe to log and show. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** Human-readable, actionable, secret-free. */
  readonly message: string;
}

/** An append-only audit event; never holds a secret value. */
export interface AuditEvent {
  /** One of the types keyward writes (core/audit-events.ts). */
  readonly type: AuditEventType;
  readonly time: string;
  readonly requestId?: string;
  readonly sessionId?: string;
  readonly agent?: string;
  readonly tenant?: string;
  /** The person the agent acted for (the verified principal's `user`), when its identity names one. */
  readonly user?: string;
  readonly tool?: string;
  readonly permission?: string;
  readonly decision?: string;
  readonly ruleIds?: readonly string[];
  readonly keyId?: string;
  readonly keyVersion?: string;
  readonly origin?: string;
  readonly status?: number;
  readonly outcome?: string;
  readonly errorCode?: string;
  readonly latencyMs?: number;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type JsonObject = Record<string, unknown>;

/** What a successful call hands back before it becomes an MCP result. */
export interface CallSuccess {
  /** Upstream HTTP status. */
  readonly status: number;
  /** Content type of the upstream body, if any. */
  readonly contentType: string | undefined;
  /** Upstream response headers that passed the allowlist. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text (already redacted once the redact step ran). */
  readonly body: string;
  /**
   * The JSON body as a value, set by the redact step (parsed once, redacted as a value, so escapes
   * the text pass cannot see are caught). Absent: the body is not JSON, nests too deep, or nothing
   * was injected; tool-result.ts then parses it itself.
   */
  readonly json?: { readonly value: unknown };
  /** Set when a fallback answered instead of the tool itself. */
  readonly fallback?: string;
}
