/**
 * One POST to an OAuth2 token endpoint (RFC 6749 §3.2): form-encoded, client auth by HTTP Basic or in
 * the body, bounded in time and size, no redirects. Maps every failure to a catalog code; the client
 * secret, refresh token and access token never reach an error message or a log line, and neither
 * does the endpoint's error body (only a standard `error` code, if it is one).
 */
import { KeywardError } from '../../core/errors.js';
import {
  oauthTokenProblem,
  readTokenResponseBody,
  tokenLifetimeSeconds,
  unusableOAuthToken,
} from '../../core/oauth-token.js';

export interface TokenRequest {
  readonly tokenUrl: string;
  /** grant_type and its parameters (refresh_token, scope, audience, …). */
  readonly params: Record<string, string>;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly clientAuth: 'basic' | 'body';
  /** Names the credential in messages (never a secret). */
  readonly credentialName: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly fetch: typeof globalThis.fetch;
}

export interface TokenResponse {
  readonly accessToken: string;
  /** Seconds, when the server said. */
  readonly expiresIn: number | undefined;
  readonly refreshToken: string | undefined;
}

const STANDARD_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'temporarily_unavailable',
  'server_error',
]);

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for Basic auth. */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function readCapped(response: Response): Promise<string> {
  const body = await readTokenResponseBody(response, () => new Error('token response too large'));
  return body.toString('utf8');
}

function retryAfter(response: Response): number {
  const header = response.headers.get('retry-after');
  const seconds = header !== null ? Number(header) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 && seconds <= 3600 ? Math.ceil(seconds) : 5;
}

export async function requestToken(request: TokenRequest): Promise<TokenResponse> {
  const name = request.credentialName;
  const form = new URLSearchParams(request.params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (request.clientId !== undefined) {
    if (request.clientAuth === 'basic' && request.clientSecret !== undefined) {
      headers.authorization = basicAuth(request.clientId, request.clientSecret);
    } else {
      form.set('client_id', request.clientId);
      if (request.clientSecret !== undefined) form.set('client_secret', request.clientSecret);
    }
  }
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  let response: Response;
  let text: string;
  try {
    response = await request.fetch(request.tokenUrl, {
      method: 'POST',
      headers,
      body: form.toString(),
      redirect: 'manual',
      signal,
    });
    text = await readCapped(response);
  } catch (error) {
    const kind = (error as Error).name === 'TimeoutError' ? 'timed out' : 'could not be reached';
    throw new KeywardError(
      'secret_backend_unavailable',
      `the token endpoint for credential "${name}" ${kind}`,
      {
        retryAfterSeconds: 5,
        detail: `token endpoint ${new URL(request.tokenUrl).origin}: ${(error as Error).name}`,
      },
    );
  }
  const status = response.status;
  if (status >= 500 || status === 429 || status === 408) {
    throw new KeywardError(
      'secret_backend_unavailable',
      `the token endpoint for credential "${name}" is unavailable (HTTP ${status})`,
      { retryAfterSeconds: retryAfter(response) },
    );
  }
  if (status < 200 || status >= 300) {
    let code = '';
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body.error === 'string' && STANDARD_ERRORS.has(body.error)) code = body.error;
    } catch {
      // not JSON: the body is never forwarded anyway
    }
    if (code === 'temporarily_unavailable' || code === 'server_error') {
      throw new KeywardError(
        'secret_backend_unavailable',
        `the token endpoint for credential "${name}" is unavailable (${code})`,
        { retryAfterSeconds: 5 },
      );
    }
    const why =
      status >= 300 && status < 400
        ? 'redirected (redirects are not followed)'
        : `refused it (HTTP ${status}${code ? `, ${code}` : ''})`;
    throw new KeywardError('credential_invalid', `the token endpoint for credential "${name}" ${why}`);
  }
  let body: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    throw new KeywardError(
      'secret_backend_unavailable',
      `the token endpoint for credential "${name}" returned an unreadable response`,
      { retryAfterSeconds: 5 },
    );
  }
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new KeywardError(
      'secret_backend_unavailable',
      `the token endpoint for credential "${name}" returned no usable access token`,
      { retryAfterSeconds: 5 },
    );
  }
  // The endpoint is not trusted: a token that cannot go in a header, or of any length, is refused
  // here by the rule it breaks (never quoted), not by undici as the API's failure, and before it
  // reaches the redactor (security review of 2026-12-05).
  unusable(name, 'access token', oauthTokenProblem(accessToken));
  const tokenType = body.token_type;
  if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'bearer') {
    throw new KeywardError(
      'credential_invalid',
      `the token endpoint for credential "${name}" issued an unsupported token type`,
    );
  }
  const rawExpires = typeof body.expires_in === 'string' ? Number(body.expires_in) : body.expires_in;
  // Held to [10 s, a year]: 0.001 made every call fetch a token, 1e308 cached one forever.
  const expiresIn =
    typeof rawExpires === 'number' && !Number.isNaN(rawExpires) && rawExpires > 0
      ? tokenLifetimeSeconds(rawExpires)
      : undefined;
  const refreshToken =
    typeof body.refresh_token === 'string' && body.refresh_token.length > 0 ? body.refresh_token : undefined;
  if (refreshToken !== undefined) unusable(name, 'refresh token', oauthTokenProblem(refreshToken));
  return { accessToken, expiresIn, refreshToken };
}

function unusable(name: string, what: 'access token' | 'refresh token', problem: string | undefined): void {
  if (problem !== undefined)
    throw unusableOAuthToken(`the token endpoint for credential "${name}"`, what, problem);
}
