/**
 * The error catalog: every structured error code an agent can receive, in one place.
 * docs/errors.md lists the same codes; test/unit/error-catalog.test.ts keeps the two in step.
 * Messages built here must never contain a secret, a backend path the agent may not know,
 * or a stack trace.
 */

export interface ErrorSpec {
  /** When the code is used, for docs and humans. */
  readonly when: string;
  /** Whether the same call may succeed if retried later (possibly after a wait or an approval). */
  readonly retryable: boolean;
  /** What the agent should do next, as a short imperative. */
  readonly nextStep: string;
}

export const ERROR_CATALOG = {
  invalid_arguments: {
    when: "the arguments fail the tool's input schema",
    retryable: false,
    nextStep: 'fix the arguments named in the message and call again',
  },
  permission_denied: {
    when: 'the policy denies this principal the permission',
    retryable: false,
    nextStep: 'do not retry; call list_capabilities or request_capability, or ask the operator',
  },
  approval_required: {
    when: 'a human must approve and no approval exists yet (client without elicitation)',
    retryable: true,
    nextStep:
      'ask an operator to approve <approvalId> (at `url` when given, or `keyward grants approve`), then retry',
  },
  approval_denied: {
    when: 'the human declined the approval request',
    retryable: false,
    nextStep: 'do not retry; continue without this capability',
  },
  grant_expired: {
    when: 'a time-limited grant ran out or its call budget is used up',
    retryable: true,
    nextStep: 'call request_capability again, then retry',
  },
  rate_limited: {
    when: "keyward's rate limit or the upstream's 429",
    retryable: true,
    nextStep: 'wait retryAfterSeconds, then retry',
  },
  credential_expired: {
    when: 'the credential expired and could not be refreshed',
    retryable: true,
    nextStep: 'retry later; if it persists, ask the operator to renew the credential',
  },
  credential_revoked: {
    when: "the credential was revoked, deleted or destroyed at the secret backend, or the user's grant was revoked at the OAuth provider",
    retryable: false,
    nextStep:
      'do not retry as is; for a user connection the next call answers authorization_required with a link to reconnect, otherwise escalate to the operator',
  },
  authorization_required: {
    when: 'the call acts for a user who has not connected their account at the OAuth provider (or the connection was revoked), and the client cannot open a URL elicitation',
    retryable: true,
    nextStep:
      'ask the user to open `url` and consent at the provider (in their own browser, signed in as themselves), then retry',
  },
  credential_invalid: {
    when: 'the upstream rejects the credential even after a fresh fetch, or the backend refuses access',
    retryable: false,
    nextStep: 'do not retry; escalate to the operator',
  },
  credential_not_found: {
    when: 'no credential exists for this tenant or agent',
    retryable: false,
    nextStep: 'do not retry; ask the operator to store the credential',
  },
  secret_backend_unavailable: {
    when: 'the secret backend is down, sealed, throttled or timing out',
    retryable: true,
    nextStep: 'wait retryAfterSeconds, then retry',
  },
  upstream_error: {
    when: 'the upstream answered 5xx or the network failed',
    retryable: true,
    nextStep: 'retry with backoff',
  },
  upstream_timeout: {
    when: 'the upstream did not answer before the deadline',
    retryable: true,
    nextStep: 'retry with backoff; the upstream may have acted',
  },
  upstream_rejected: {
    when: 'the upstream answered another 4xx',
    retryable: false,
    nextStep: 'read the upstream status in the message and change the request',
  },
  response_too_large: {
    when: "the upstream response is over the tool's byte cap",
    retryable: false,
    nextStep: 'narrow the request (filters, pagination) and call again',
  },
  audit_unavailable: {
    when: 'the audit sink cannot record the call (fail closed: no upstream call was made)',
    retryable: true,
    nextStep: 'retry later; the operator should check the audit store',
  },
  internal_error: {
    when: 'an unexpected fault inside keyward (details are in the server log, never in the result)',
    retryable: true,
    nextStep: 'retry once; if it persists, tell the operator the requestId',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export const ERROR_CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CATALOG, value);
}

/** The `structuredContent.error` object an agent receives. */
export interface StructuredError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterSeconds?: number;
  tool: string;
  permission: string;
  requestId: string;
  nextStep: string;
  /** Present on approval_required: the id an operator approves. */
  approvalId?: string;
  /**
   * Present on approval_required when there is an approval console (the request's page), and on
   * authorization_required (keyward's own /oauth/start page for this user and call).
   */
  url?: string;
  /** Present when a fallback answered instead (see tools.*.fallback). */
  fallback?: string;
}

export interface KeywardErrorOptions {
  retryAfterSeconds?: number;
  approvalId?: string;
  url?: string;
  /** Internal detail for the server log only; never sent to the agent. Must not hold a secret. */
  detail?: string | undefined;
  cause?: unknown | undefined;
}

/**
 * An expected, catalogued failure. `message` is safe to show to the agent: callers build it from
 * config names and status codes only, never from secret values or backend error bodies.
 */
export class KeywardError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterSeconds: number | undefined;
  readonly approvalId: string | undefined;
  readonly url: string | undefined;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: KeywardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeywardError';
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.approvalId = options.approvalId;
    this.url = options.url;
    this.detail = options.detail;
  }

  get retryable(): boolean {
    return ERROR_CATALOG[this.code].retryable;
  }
}

export function isKeywardError(error: unknown): error is KeywardError {
  return error instanceof KeywardError;
}

/** Thrown for invalid configuration; `issues` name JSON paths. Never carries a stack to the user. */
export class ConfigError extends Error {
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[] = []) {
    super(message);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function toStructuredError(
  error: KeywardError,
  context: { tool: string; permission: string; requestId: string },
): StructuredError {
  const spec = ERROR_CATALOG[error.code];
  const out: StructuredError = {
    code: error.code,
    message: error.message,
    retryable: spec.retryable,
    tool: context.tool,
    permission: context.permission,
    requestId: context.requestId,
    nextStep: spec.nextStep,
  };
  if (error.retryAfterSeconds !== undefined) out.retryAfterSeconds = error.retryAfterSeconds;
  if (error.approvalId !== undefined) out.approvalId = error.approvalId;
  if (error.url !== undefined) out.url = error.url;
  return out;
}
