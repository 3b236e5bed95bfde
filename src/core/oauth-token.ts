/**
 * What keyward accepts from an OAuth token endpoint as an access or refresh token (the endpoint is
 * not trusted: security review of 2026-12-05). RFC 6749 appendix A.12 and A.17: both are 1*VSCHAR
 * (visible ASCII and space), so a token that could not go in an HTTP header (CR, LF, NUL, other
 * control characters, non-ASCII) is refused when it arrives, never stored or sent. The length is
 * bounded too: the access token goes in one header line (nginx refuses lines over 8 KiB by default),
 * and every token is compiled into the redactor and the log scrubber, whose cost grows with its
 * length (a token of megabytes blocked the event loop for minutes).
 */

/** The longest access or refresh token keyward accepts, in characters. */
export const MAX_OAUTH_TOKEN_CHARS = 8192;

/** The largest token endpoint response keyward reads, in bytes. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

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
