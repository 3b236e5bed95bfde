/**
 * Principal resolution for HTTP: every request's `Authorization: Bearer` header goes through the
 * configured verifiers (static tokens, then JWT). With no identity configured, authentication is
 * off and every request acts as the default agent (allowed on a loopback bind only).
 */
import type { KeywardConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { Logger } from '../observability/logger.js';
import { AuthError } from './auth-error.js';
import type { Authenticated, TokenVerifier } from './authenticated.js';
import { JwtVerifier } from './jwt-verifier.js';
import { StaticTokenVerifier } from './static-token-verifier.js';

export interface PrincipalResolver {
  /** Whether requests must carry a bearer token. */
  readonly required: boolean;
  /** Authenticates one request from its Authorization header; throws AuthError. */
  authenticate(authorization: string | undefined): Promise<Authenticated>;
}

export interface ResolverOptions {
  readonly config: KeywardConfig;
  readonly baseDir: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

export function createPrincipalResolver(options: ResolverOptions): PrincipalResolver {
  const { config } = options;
  const identity = config.identity;
  const verifiers: TokenVerifier[] = [];
  if (identity.tokens.length > 0) {
    verifiers.push(new StaticTokenVerifier(identity.tokens, config.agents, identity.jwt === undefined));
  }
  if (identity.jwt !== undefined) {
    verifiers.push(
      new JwtVerifier({
        config: identity.jwt,
        agents: config.agents,
        baseDir: options.baseDir,
        logger: options.logger,
        ...(options.now === undefined ? {} : { now: options.now }),
      }),
    );
  }
  if (verifiers.length === 0) {
    const principal = defaultPrincipal(config);
    const anonymous: Authenticated = { principal, subject: 'none' };
    return { required: false, authenticate: () => Promise.resolve(anonymous) };
  }
  return {
    required: true,
    async authenticate(authorization) {
      const token = bearerToken(authorization);
      for (const verifier of verifiers) {
        const result = await verifier.verify(token);
        if (result !== undefined) return result;
      }
      throw new AuthError('invalid_token', 'token not accepted');
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header; AuthError('missing_token') otherwise. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw new AuthError('missing_token', 'authentication required');
  }
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
  if (match?.[1] === undefined)
    throw new AuthError('invalid_token', 'expected an Authorization: Bearer token');
  return match[1];
}

/** Without authentication every request acts as identity.stdio.agent (or the only configured agent). */
function defaultPrincipal(config: KeywardConfig): Principal {
  const name = config.identity.stdio?.agent ?? Object.keys(config.agents)[0];
  const agent = name === undefined ? undefined : config.agents[name];
  if (name === undefined || agent === undefined) {
    throw new ConfigError(
      'HTTP without authentication needs an agent: set identity.stdio.agent or add one under "agents"',
    );
  }
  return {
    agent: name,
    tenant: agent.tenant,
    ...(config.identity.stdio?.user === undefined || config.identity.stdio.agent !== name
      ? {}
      : { user: config.identity.stdio.user }),
    roles: agent.roles,
    attributes: agent.attributes,
    authMethod: 'none',
  };
}
