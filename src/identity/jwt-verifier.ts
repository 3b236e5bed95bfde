/**
 * Verifies JWT bearer tokens with jose against a JWKS (URI or file): issuer allowlist, audience =
 * this server's resource URL, asymmetric algorithms only (alg none and HS* never verify), `exp`
 * required, bounded clock leeway. Claims map to agent, tenant and roles.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { resolvePath } from '../config/load.js';
import type { KeywardConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { Logger } from '../observability/logger.js';
import { isSafeSegment } from '../secrets/ref-template.js';
import { AuthError } from './auth-error.js';
import type { Authenticated, TokenVerifier } from './authenticated.js';

type JwtConfig = NonNullable<KeywardConfig['identity']['jwt']>;

const NAME = /^[\w.@:+-]{1,128}$/;

export interface JwtVerifierOptions {
  readonly config: JwtConfig;
  readonly agents: KeywardConfig['agents'];
  readonly baseDir: string;
  readonly logger: Logger;
  /** Current time for `exp`/`nbf` checks (tests); defaults to the system clock. */
  readonly now?: () => number;
}

/**
 * Who a session created with this token belongs to: the issuer, the subject and the user. The user
 * is part of it because several people may act through one agent with tokens that share a `sub`
 * (a client id, with the person in `email`) or carry none: one of them must never use, resume or
 * end another's session (security review of 2026-12-04; with `iss|sub` alone they could). JSON, so
 * no value can be read as another's separator.
 */
export function jwtSubject(issuer: string | undefined, sub: string, user: string | undefined): string {
  return `jwt:${JSON.stringify([issuer ?? '', sub, user ?? null])}`;
}

export class JwtVerifier implements TokenVerifier {
  readonly kind = 'jwt';
  private readonly keys: JWTVerifyGetKey;

  constructor(private readonly options: JwtVerifierOptions) {
    const { config } = options;
    if (config.jwksUri !== undefined) {
      // Keys cached 10 min; an unknown kid triggers at most one refetch a minute (then 401, never 500).
      this.keys = createRemoteJWKSet(new URL(config.jwksUri), {
        timeoutDuration: 3_000,
        cooldownDuration: 60_000,
        cacheMaxAge: 600_000,
      });
    } else if (config.jwksFile !== undefined) {
      const file = resolvePath(config.jwksFile, options.baseDir);
      let jwks: JSONWebKeySet;
      try {
        jwks = JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet;
      } catch (error) {
        throw new ConfigError(`cannot read identity.jwt.jwksFile ${file}: ${(error as Error).message}`);
      }
      if (!Array.isArray(jwks.keys))
        throw new ConfigError(`identity.jwt.jwksFile ${file} has no "keys" array`);
      this.keys = createLocalJWKSet(jwks);
    } else {
      throw new ConfigError('identity.jwt needs jwksUri or jwksFile', [
        { path: 'identity.jwt', message: 'set jwksUri or jwksFile' },
      ]);
    }
  }

  async verify(token: string): Promise<Authenticated | undefined> {
    const { config } = this.options;
    let payload: JWTPayload;
    try {
      const now = this.options.now?.();
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: config.issuers,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: config.clockToleranceSeconds,
        requiredClaims: ['exp', 'iss', 'aud'],
        ...(now === undefined ? {} : { currentDate: new Date(now) }),
      }));
    } catch (error) {
      const reason = describe(error);
      this.options.logger.debug({ reason }, 'jwt rejected');
      throw new AuthError('invalid_token', reason);
    }
    const lifetime = lifetimeSeconds(payload, this.options.now?.() ?? Date.now());
    if (lifetime > config.maxTokenLifetimeSeconds) {
      return this.refuse(
        `token lifetime ${lifetime} s exceeds identity.jwt.maxTokenLifetimeSeconds (${config.maxTokenLifetimeSeconds} s)`,
      );
    }
    // Every mapped claim must be present and a safe name: a missing or odd claim is a 401, never a
    // default tenant or an empty role list (the token's issuer chose not to say who this is).
    const agentName = claimString(payload, config.claims.agent);
    if (agentName === undefined) return this.refuse(`token lacks a valid "${config.claims.agent}" claim`);
    const configured = this.options.agents[agentName];
    let tenant: string;
    if (config.claims.tenant === null) tenant = configured?.tenant ?? 'default';
    else {
      const claimed = claimString(payload, config.claims.tenant);
      if (claimed === undefined) return this.refuse(`token lacks a valid "${config.claims.tenant}" claim`);
      tenant = claimed;
    }
    let roles: readonly string[];
    if (config.claims.roles === null) roles = configured?.roles ?? [];
    else {
      const claimed = claimRoles(payload, config.claims.roles);
      if (claimed === undefined) return this.refuse(`token lacks a valid "${config.claims.roles}" claim`);
      roles = claimed;
    }
    // The user is optional: a missing or unsafe claim means the token names no person (its `{user}`
    // refs resolve to nothing), never someone else.
    const user = config.claims.user === null ? undefined : claimString(payload, config.claims.user);
    const principal: Principal = {
      agent: agentName,
      tenant,
      ...(user === undefined ? {} : { user }),
      roles,
      attributes: configured?.attributes ?? {},
      authMethod: 'jwt',
    };
    const result: Authenticated = {
      principal,
      subject: jwtSubject(payload.iss, payload.sub ?? agentName, user),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
    };
    return result;
  }

  private refuse(reason: string): never {
    this.options.logger.info({ reason }, 'jwt refused');
    throw new AuthError('invalid_token', reason);
  }
}

/** `exp − iat`, or `exp − now` when the token has no `iat` (exp is required before this runs). */
function lifetimeSeconds(payload: JWTPayload, nowMs: number): number {
  const exp = payload.exp ?? 0;
  const from = typeof payload.iat === 'number' ? payload.iat : Math.floor(nowMs / 1000);
  return exp - from;
}

/** A short, token-free reason for the log and the WWW-Authenticate error_description. */
function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${error.claim}" is invalid`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (error instanceof joseErrors.JWKSTimeout) return 'key set unavailable';
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid)
    return 'malformed token';
  if (error instanceof joseErrors.JOSENotSupported) return 'token algorithm not supported';
  return 'token could not be verified';
}

function claim(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The claim when it is a safe name (ref-template.ts: `.`/`..`, `/`, spaces never pass). */
function claimString(payload: JWTPayload, path: string): string | undefined {
  const value = claim(payload, path);
  return typeof value === 'string' && NAME.test(value) && isSafeSegment(value) ? value : undefined;
}

/** Roles: an array or a space-separated string of safe names; one bad entry refuses them all. */
function claimRoles(payload: JWTPayload, path: string): string[] | undefined {
  const value = claim(payload, path);
  const list = typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : value;
  if (!Array.isArray(list) || list.length > 64) return undefined;
  const roles = list.filter((r): r is string => typeof r === 'string' && NAME.test(r));
  return roles.length === list.length ? roles : undefined;
}
