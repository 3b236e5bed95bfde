/**
 * What keyward accepts from an OAuth token endpoint as an access or refresh token (the endpoint is
 * not trusted: security review of 2026-12-05). RFC 6749 appendix A.12 and A.17: both are 1*VSCHAR
 * (visible ASCII and space), so a token that could not go in an HTTP header (CR, LF, NUL, other
 * control characters, non-ASCII) is refused when it arrives, never stored or sent. The length is
 * bounded too: the access token goes in one header line (nginx refuses lines over 8 KiB by default),
 * and every token is compiled into the redactor and the log scrubber, whose cost grows with its
 * length (a token of megabytes blocked the event loop for minutes). `expires_in` is held to a
 * range: 0 (or 0.001) made every call fetch a new token, and 1e308 an expiry of Infinity (stored as
 * JSON null, which a user connection then read as due on every load).
 */

import { KeywardError } from './errors.js';

/** The longest access or refresh token keyward accepts, in characters. */
export const MAX_OAUTH_TOKEN_CHARS = 8192;

/** The largest token endpoint response keyward reads, in bytes. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/**
 * The body of a token endpoint's answer, read up to MAX_TOKEN_RESPONSE_BYTES (declared or
 * streamed); past it the body is cancelled and `tooLarge()` is thrown. Reading the answer whole let
 * a provider streaming gigabytes fill keyward's memory.
 */
export async function readTokenResponseBody(response: Response, tooLarge: () => Error): Promise<Buffer> {
  if (Number(response.headers.get('content-length') ?? 0) > MAX_TOKEN_RESPONSE_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_TOKEN_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const VSCHAR = /^[\x20-\x7e]+$/;

/**
 * Why `token` cannot be used, or undefined when it can. Never quotes the token, not even one of
 * its characters: the reason names the rule it breaks.
 */
export function oauthTokenProblem(token: string): string | undefined {
  if (token.length === 0) return 'is empty';
  if (token.length > MAX_OAUTH_TOKEN_CHARS)
    return `is over ${MAX_OAUTH_TOKEN_CHARS} characters (${token.length})`;
  if (!VSCHAR.test(token))
    return 'has characters not allowed in an HTTP header (only visible ASCII and space: no control characters, CR, LF, NUL or non-ASCII)';
  return undefined;
}

/**
 * The refusal of a token `oauthTokenProblem` found a problem with: `from` names the endpoint
 * (`OAuth provider "github"`), the message the rule broken, never the token.
 */
export function unusableOAuthToken(
  from: string,
  what: 'access token' | 'refresh token',
  problem: string,
  detail?: string,
): KeywardError {
  return new KeywardError(
    'secret_backend_unavailable',
    `${from} returned ${what === 'access token' ? 'an' : 'a'} ${what} keyward cannot use: it ${problem}`,
    { retryAfterSeconds: 5, ...(detail === undefined ? {} : { detail }) },
  );
}

/** The shortest token lifetime keyward plans with: at most one refresh per 5 s (half of it) per token. */
export const MIN_TOKEN_LIFETIME_SECONDS = 10;

/** The longest token lifetime keyward plans with (a year): an expiry is always a finite epoch. */
export const MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600;

/**
 * The lifetime keyward uses for a token whose endpoint said `expires_in` (seconds, a number
 * already checked by the caller): held to [MIN_TOKEN_LIFETIME_SECONDS, MAX_TOKEN_LIFETIME_SECONDS].
 * A token that really expires sooner is rejected by its API (401), which refreshes it once.
 */
export function tokenLifetimeSeconds(expiresIn: number): number {
  if (Number.isNaN(expiresIn)) return MIN_TOKEN_LIFETIME_SECONDS;
  return Math.min(MAX_TOKEN_LIFETIME_SECONDS, Math.max(MIN_TOKEN_LIFETIME_SECONDS, expiresIn));
}
