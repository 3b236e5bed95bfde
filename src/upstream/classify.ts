/**
 * Turns an upstream HTTP status into the pipeline's verdict: ok, credential rejected (401/403,
 * handled by the credential session, server/credential-session.ts), or a catalogued error.
 * Messages carry the status, never the body.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { KeywardError } from '../core/errors.js';

export type Classification =
  { kind: 'ok' } | { kind: 'auth-rejected'; status: 401 | 403 } | { kind: 'error'; error: KeywardError };

export interface ClassifyContext {
  /** Tool name, for the server-log detail. */
  tool: string;
  /** Time source for HTTP-date Retry-After values. */
  clock?: Clock;
}

export const MAX_RETRY_AFTER_SECONDS = 3600;

/**
 * Retry-After as whole seconds from now: delta-seconds or an HTTP-date; at least 1, at most 3600;
 * 1 when absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number {
  if (value === undefined) return 1;
  const text = value.trim();
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else {
    const at = Date.parse(text);
    if (!/[a-z]/i.test(text) || Number.isNaN(at)) return 1;
    seconds = Math.ceil((at - now) / 1000);
  }
  if (!Number.isFinite(seconds)) return MAX_RETRY_AFTER_SECONDS;
  return Math.min(Math.max(seconds, 1), MAX_RETRY_AFTER_SECONDS);
}

/** The error for an upstream that still rejects the credential after a fresh fetch and one retry. */
export function credentialRejectedError(status: number): KeywardError {
  return new KeywardError('credential_invalid', `upstream rejected the credential (${status})`);
}

export function classifyResponse(
  response: { readonly status: number; readonly headers: Readonly<Record<string, string>> },
  context: ClassifyContext,
): Classification {
  const status = response.status;
  const detail = `tool ${context.tool}: upstream status ${status}`;
  const now = (context.clock ?? systemClock).now();
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 401 || status === 403) return { kind: 'auth-rejected', status };
  if (status === 429) {
    const retryAfterSeconds = parseRetryAfter(response.headers['retry-after'], now);
    return {
      kind: 'error',
      error: new KeywardError(
        'rate_limited',
        `upstream rate limit (429); retry after ${retryAfterSeconds} s`,
        {
          retryAfterSeconds,
          detail,
        },
      ),
    };
  }
  if (status === 408 || status === 504) {
    return {
      kind: 'error',
      error: new KeywardError('upstream_timeout', `upstream timed out (${status})`, { detail }),
    };
  }
  if (status >= 500 && status < 600) {
    const retryAfter = response.headers['retry-after'];
    const options =
      status === 503 && retryAfter !== undefined
        ? { detail, retryAfterSeconds: parseRetryAfter(retryAfter, now) }
        : { detail };
    return {
      kind: 'error',
      error: new KeywardError('upstream_error', `upstream error (${status})`, options),
    };
  }
  if (status >= 300 && status < 400) {
    return {
      kind: 'error',
      error: new KeywardError('upstream_rejected', `upstream answered ${status}; redirect not followed`, {
        detail,
      }),
    };
  }
  if (status >= 400 && status < 500) {
    return {
      kind: 'error',
      error: new KeywardError('upstream_rejected', `upstream rejected the request (${status})`, { detail }),
    };
  }
  return {
    kind: 'error',
    error: new KeywardError('upstream_error', `unexpected upstream status (${status})`, { detail }),
  };
}
