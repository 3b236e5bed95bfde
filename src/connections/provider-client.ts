/**
 * One OAuth 2.0 / OpenID Connect provider as keyward's client (openid-client 6 on oauth4webapi):
 * OpenID Connect discovery or configured endpoints, authorization code + PKCE S256, refresh,
 * RFC 7009 revocation. The client secret is read from a secret backend when first needed, never
 * from the config. Every failure becomes a catalog code; no token, secret or provider error body
 * ever reaches a message (only a standard `error` code). The provider is not trusted: keyward reads
 * at most 64 KiB of any answer, and takes an access or refresh token only if it could go in an HTTP
 * header and is at most 8,192 characters (core/oauth-token.ts).
 */
import type * as Oidc from 'openid-client';
import { KeywardError } from '../core/errors.js';
import {
  MAX_TOKEN_RESPONSE_BYTES,
  oauthTokenProblem,
  readTokenResponseBody,
  tokenLifetimeSeconds,
  unusableOAuthToken,
} from '../core/oauth-token.js';

export interface ProviderSettings {
  /** The provider's config name (messages, audit). */
  readonly name: string;
  readonly issuer?: string | undefined;
  readonly authorizationUrl?: string | undefined;
  readonly tokenUrl?: string | undefined;
  readonly revocationUrl?: string | undefined;
  readonly clientId: string;
  readonly clientAuth: 'basic' | 'body';
  readonly scopes: readonly string[];
  readonly authorizationParams?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  /** Epoch ms, when the provider said. */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  /** The ID token's claims, when the provider issued (and openid-client validated) one. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
}

export interface StartedAuthorization {
  readonly url: URL;
  readonly verifier: string;
  readonly nonce: string | undefined;
}

/** openid-client is loaded when a provider is first used (a stdio start without connections never loads it). */
let lib: typeof Oidc | undefined;
async function openid(): Promise<typeof Oidc> {
  lib ??= await import('openid-client');
  return lib;
}

/** http:// is accepted only for a provider on this machine (tests, a local demo provider). */
function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

export class ProviderClient {
  private configuration: Promise<Oidc.Configuration> | undefined;

  constructor(
    readonly settings: ProviderSettings,
    private readonly clientSecret: () => Promise<string | undefined>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the provider speaks OpenID Connect (an ID token can name the person who consented). */
  get isOidc(): boolean {
    return this.settings.issuer !== undefined;
  }

  /** Discovery (or the configured endpoints), once; a failure is retried on the next use. */
  private config(): Promise<Oidc.Configuration> {
    this.configuration ??= this.build().catch((error: unknown) => {
      this.configuration = undefined;
      throw error;
    });
    return this.configuration;
  }

  private async build(): Promise<Oidc.Configuration> {
    const oidc = await openid();
    const s = this.settings;
    const secret = await this.clientSecret();
    const auth =
      secret === undefined
        ? oidc.None()
        : s.clientAuth === 'body'
          ? oidc.ClientSecretPost(secret)
          : oidc.ClientSecretBasic(secret);
    const insecure = [s.issuer, s.authorizationUrl, s.tokenUrl].some(
      (u) => u !== undefined && u.startsWith('http:') && isLoopback(u),
    );
    const timeout = Math.max(1, Math.ceil(s.timeoutMs / 1000));
    const fetch = cappedFetch(s.name);
    let config: Oidc.Configuration;
    if (s.issuer !== undefined) {
      try {
        config = await oidc.discovery(new URL(s.issuer), s.clientId, undefined, auth, {
          timeout,
          [oidc.customFetch]: fetch,
          ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
        });
      } catch (error) {
        throw unavailable(s.name, 'discovery', error);
      }
    } else {
      const metadata: Oidc.ServerMetadata = {
        issuer: new URL(s.authorizationUrl!).origin,
        authorization_endpoint: s.authorizationUrl!,
        token_endpoint: s.tokenUrl!,
        ...(s.revocationUrl === undefined ? {} : { revocation_endpoint: s.revocationUrl }),
      };
      config = new oidc.Configuration(metadata, s.clientId, undefined, auth);
      if (insecure) oidc.allowInsecureRequests(config);
    }
    config[oidc.customFetch] = fetch;
    config.timeout = timeout;
    return config;
  }

  /** The provider's authorization URL for one consent: PKCE S256, `state`, `nonce` for OIDC. */
  async start(redirectUri: string, state: string, scopes?: readonly string[]): Promise<StartedAuthorization> {
    const config = await this.config();
    const oidc = await openid();
    const verifier = oidc.randomPKCECodeVerifier();
    const challenge = await oidc.calculatePKCECodeChallenge(verifier);
    const nonce = this.isOidc ? oidc.randomNonce() : undefined;
    const scope = [...(scopes ?? this.settings.scopes)];
    if (this.isOidc && !scope.includes('openid')) scope.unshift('openid');
    const params: Record<string, string> = {
      ...this.settings.authorizationParams,
      redirect_uri: redirectUri,
      response_type: 'code',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      ...(scope.length === 0 ? {} : { scope: scope.join(' ') }),
      ...(nonce === undefined ? {} : { nonce }),
    };
    return { url: oidc.buildAuthorizationUrl(config, params), verifier, nonce };
  }

  /**
   * Redeems the code of a callback. `callback` is keyward's own redirect URI with the provider's
   * query: the redirect_uri sent is exactly the one the consent started with.
   */
  async finish(
    callback: URL,
    checks: { verifier: string; state: string; nonce: string | undefined },
  ): Promise<TokenSet> {
    const config = await this.config();
    const oidc = await openid();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        ...(checks.nonce === undefined ? {} : { expectedNonce: checks.nonce }),
        idTokenExpected: this.isOidc,
      });
      return this.tokenSet(tokens);
    } catch (error) {
      throw this.mapError(error, 'code');
    }
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    const config = await this.config();
    const oidc = await openid();
    try {
      return this.tokenSet(await oidc.refreshTokenGrant(config, refreshToken));
    } catch (error) {
      throw this.mapError(error, 'refresh');
    }
  }

  /** RFC 7009. False when the provider offers no revocation endpoint. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
    const config = await this.config();
    const oidc = await openid();
    if (config.serverMetadata().revocation_endpoint === undefined) return false;
    try {
      await oidc.tokenRevocation(config, token, { token_type_hint: hint });
      return true;
    } catch (error) {
      throw this.mapError(error, 'revoke');
    }
  }

  private tokenSet(tokens: Oidc.TokenEndpointResponse & Oidc.TokenEndpointResponseHelpers): TokenSet {
    const expiresIn = tokens.expiresIn();
    const name = this.settings.name;
    const accessProblem = oauthTokenProblem(tokens.access_token);
    if (accessProblem !== undefined) throw unusableToken(name, 'access token', accessProblem);
    const refreshProblem =
      tokens.refresh_token === undefined ? undefined : oauthTokenProblem(tokens.refresh_token);
    if (refreshProblem !== undefined) throw unusableToken(name, 'refresh token', refreshProblem);
    let claims: Record<string, unknown> | undefined;
    try {
      claims = tokens.claims() as Record<string, unknown> | undefined;
    } catch {
      claims = undefined;
    }
    return {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      // Held to [10 s, a year]: expires_in 0 made every call refresh, and 1e308 an expiry of
      // Infinity, which the vault's JSON stores as null (read as due by every load).
      expiresAt: expiresIn === undefined ? undefined : this.now() + tokenLifetimeSeconds(expiresIn) * 1000,
      scope: tokens.scope,
      claims,
    };
  }

  private mapError(error: unknown, what: 'code' | 'refresh' | 'revoke'): KeywardError {
    const oidc = lib!;
    const name = this.settings.name;
    // keyward's own refusals (an oversized answer, an unusable token), also as openid-client's cause.
    for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++)
      if (e instanceof KeywardError) return e;
    if (error instanceof oidc.ResponseBodyError) {
      if (error.status >= 500 || error.error === 'temporarily_unavailable' || error.error === 'server_error')
        return unavailable(name, what, error);
      if (error.error === 'invalid_grant')
        return new KeywardError(
          'credential_revoked',
          what === 'refresh'
            ? `the user's grant at provider "${name}" was revoked or expired`
            : `provider "${name}" refused the authorization code`,
          { detail: `provider ${name} ${what}: invalid_grant` },
        );
      return new KeywardError('credential_invalid', `provider "${name}" refused the ${what} request`, {
        detail: `provider ${name} ${what}: ${safeCode(error.error)} (${error.status})`,
      });
    }
    const invalid = error instanceof oidc.ClientError ? invalidResponse(error) : undefined;
    if (error instanceof oidc.ClientError && invalid !== undefined) {
      const asked = { code: 'the authorization code', refresh: 'the refresh', revoke: 'the revocation' }[
        what
      ];
      return new KeywardError(
        'secret_backend_unavailable',
        `OAuth provider "${name}" answered ${asked} with an invalid ${what === 'revoke' ? '' : 'token '}response: ${invalid}`,
        { retryAfterSeconds: 5, detail: `provider ${name} ${what}: ${String(error.code)}` },
      );
    }
    if (error instanceof oidc.AuthorizationResponseError) {
      return new KeywardError('credential_invalid', `provider "${name}" returned an error`, {
        detail: `provider ${name} authorization: ${safeCode(error.error)}`,
      });
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status < 500 && status !== 429 && status !== 408)
      return new KeywardError('credential_invalid', `provider "${name}" refused the ${what} request`, {
        detail: `provider ${name} ${what}: HTTP ${status}`,
      });
    return unavailable(name, what, error);
  }
}

/**
 * openid-client's fetch, with the answer read here and cut off past MAX_TOKEN_RESPONSE_BYTES: it
 * read any answer whole, so a provider streaming gigabytes filled keyward's memory.
 */
function cappedFetch(name: string): Oidc.CustomFetch {
  return async (url, options) => {
    const response = await fetch(url, options as RequestInit);
    const body = await readTokenResponseBody(response, () => tooLarge(name));
    const nullBody = [101, 204, 205, 304].includes(response.status);
    return new Response(nullBody ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function tooLarge(name: string): KeywardError {
  return new KeywardError(
    'secret_backend_unavailable',
    `the response of OAuth provider "${name}" is over ${MAX_TOKEN_RESPONSE_BYTES} bytes`,
    { retryAfterSeconds: 5, detail: `provider ${name}: response over ${MAX_TOKEN_RESPONSE_BYTES} bytes` },
  );
}

function unusableToken(name: string, what: 'access token' | 'refresh token', problem: string): KeywardError {
  return unusableOAuthToken(`OAuth provider "${name}"`, what, problem, `provider ${name}: unusable ${what}`);
}

/**
 * What is wrong with a token response openid-client refused, from a fixed list (the field and the
 * rule it breaks, as oauth4webapi words it): never text of the answer itself.
 */
function invalidResponse(error: Oidc.ClientError): string | undefined {
  switch (error.code) {
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
    case 'OAUTH_PARSE_ERROR':
      return 'it is not JSON';
    case 'OAUTH_INVALID_RESPONSE': {
      const inner = error.cause instanceof Error ? error.cause.message : '';
      const rule =
        /^"response" body "([a-z_]{1,40})" property (must (?:not be empty|be an? (?:string|number|non-negative number|positive number|boolean)))$/.exec(
          inner,
        );
      if (rule !== null) return `"${rule[1]}" ${rule[2]}`;
      if (inner === '"response" body must be a top level object') return 'it is not a JSON object';
      return 'it is not a valid OAuth 2.0 response';
    }
    default:
      return undefined;
  }
}

function safeCode(code: string): string {
  return /^[a-z_]{1,64}$/.test(code) ? code : 'nonstandard';
}

function unavailable(name: string, what: string, error: unknown): KeywardError {
  const kind = (error as Error | undefined)?.name ?? 'Error';
  const code = (error as { code?: unknown } | undefined)?.code;
  return new KeywardError('secret_backend_unavailable', `OAuth provider "${name}" is unavailable`, {
    retryAfterSeconds: 5,
    detail: `provider ${name} ${what}: ${kind}${typeof code === 'string' ? ` ${code}` : ''}`,
  });
}
