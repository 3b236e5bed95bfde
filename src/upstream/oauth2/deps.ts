/** What the OAuth2 injectors need from the composition root, and helpers they share. */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { ConfigError, KeywardError } from '../../core/errors.js';
import type { Secret } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import type { OutboundRequest } from '../outbound-request.js';

export interface OAuth2InjectorDeps {
  /** The credential's name, for messages and logs. */
  readonly credentialName: string;
  /** The credential's `origins`: the token endpoint and every request must be on one of them. */
  readonly origins: readonly string[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Replaceable for tests; defaults to the global fetch. */
  readonly fetch?: typeof globalThis.fetch;
  /** Token endpoint timeout (default 5 s). */
  readonly timeoutMs?: number;
  /** Lifetime assumed when the token response has no `expires_in` (default 300 s). */
  readonly defaultLifetimeSeconds?: number;
  /** A forced refresh within this long of the last fetch reuses it (default 2 s). */
  readonly forceRefreshMinIntervalMs?: number;
}

export interface ResolvedDeps {
  readonly name: string;
  readonly origins: ReadonlySet<string>;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
  readonly fetch: typeof globalThis.fetch;
  readonly timeoutMs: number;
}

export function resolveDeps(deps: OAuth2InjectorDeps, tokenUrl: string): ResolvedDeps {
  const origins = new Set(deps.origins.map((o) => new URL(o).origin));
  const tokenOrigin = new URL(tokenUrl).origin;
  if (!origins.has(tokenOrigin)) {
    throw new ConfigError(
      `credential "${deps.credentialName}": token endpoint origin ${tokenOrigin} is not in its origins`,
      [
        {
          path: `credentials.${deps.credentialName}.inject.tokenUrl`,
          message: `origin ${tokenOrigin} is not listed in origins`,
        },
      ],
    );
  }
  return {
    name: deps.credentialName,
    origins,
    clock: deps.clock ?? systemClock,
    logger: deps.logger,
    fetch: deps.fetch ?? globalThis.fetch,
    timeoutMs: deps.timeoutMs ?? 5000,
  };
}

/** Refuses to put a token on a request to an origin the credential does not list. */
export function assertOrigin(request: OutboundRequest, deps: ResolvedDeps): void {
  if (!deps.origins.has(request.url.origin)) {
    throw new KeywardError('internal_error', `credential "${deps.name}" is not sent to this origin`, {
      detail: `origin ${request.url.origin} is not in credentials.${deps.name}.origins`,
    });
  }
}

/**
 * A named value of the secret. Falls back to the secret's main value when `fallbackToValue` and that
 * value is a plain string (the credential's `field` selected it), never to a whole JSON document.
 */
export function secretField(secret: Secret, field: string, fallbackToValue: boolean): string | undefined {
  const value = secret.fields?.[field];
  if (typeof value === 'string' && value.length > 0) return value;
  return fallbackToValue && secret.value.length > 0 && !secret.value.trimStart().startsWith('{')
    ? secret.value
    : undefined;
}

export function missingField(name: string, field: string): KeywardError {
  return new KeywardError('credential_invalid', `credential "${name}" has no "${field}" field`);
}

/** A cache key that separates tenants and rotations without keeping a secret in memory twice. */
export function keyOf(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}
