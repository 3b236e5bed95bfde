/**
 * OAuth2 refresh token grant (RFC 6749 §6) as an Injector: a stored refresh token (plus client_id and
 * an optional client_secret) from the secret's fields buys short-lived access tokens, cached and
 * single-flight like client credentials. When the server rotates the refresh token, the new one is
 * used from then on and written back to the backend through `rotate`; until the backend copy (and the
 * credential cache) catch up, the old value keeps mapping to the newest token in this process.
 */
import type { z } from 'zod';
import type { injectSchema } from '../../config/schema.js';
import type { Secret } from '../../core/types.js';
import type { InjectContext, Injector, OutboundRequest } from '../outbound-request.js';
import { secretTarget, wrapperTarget, type RedactionTarget } from '../redaction-target.js';
import {
  assertOrigin,
  keyOf,
  missingField,
  resolveDeps,
  secretField,
  type OAuth2InjectorDeps,
} from './deps.js';
import { requestToken } from './token-endpoint.js';
import { TokenStore } from './token-store.js';

export type RefreshTokenConfig = Extract<z.infer<typeof injectSchema>, { type: 'oauth2-refresh-token' }>;

export interface RefreshTokenDeps extends OAuth2InjectorDeps {
  /**
   * Stores a refresh token the server issued in place of the old one (a new backend version).
   * Called once per rotation, inside the single-flight refresh. A failure is logged (without the
   * token) and the new token is still used in this process.
   */
  readonly rotate?: ((newRefreshToken: string, secret: Secret) => Promise<void>) | undefined;
}

const MAX_LINEAGES = 1000;

export function createRefreshTokenInjector(config: RefreshTokenConfig, deps: RefreshTokenDeps): Injector {
  const resolved = resolveDeps(deps, config.tokenUrl);
  const clientAuth = config.clientAuth;
  const store = new TokenStore({
    clock: resolved.clock,
    skewSeconds: config.refreshSkewSeconds,
    defaultLifetimeSeconds: deps.defaultLifetimeSeconds,
    forceRefreshMinIntervalMs: deps.forceRefreshMinIntervalMs,
  });
  /** keyOf(client, any refresh token seen in a lineage) → the lineage key. */
  const aliases = new Map<string, string>();
  /** lineage key → the newest refresh token. */
  const latest = new Map<string, string>();

  function remember(alias: string, lineage: string): void {
    aliases.delete(alias);
    aliases.set(alias, lineage);
    while (aliases.size > MAX_LINEAGES * 4) {
      const oldest = aliases.keys().next().value;
      if (oldest === undefined) break;
      aliases.delete(oldest);
    }
    while (latest.size > MAX_LINEAGES) {
      const oldest = latest.keys().next().value;
      if (oldest === undefined) break;
      latest.delete(oldest);
    }
  }

  return {
    async inject(
      request: OutboundRequest,
      secret: Secret,
      context: InjectContext,
    ): Promise<readonly RedactionTarget[]> {
      assertOrigin(request, resolved);
      const clientId = secretField(secret, config.clientIdField, false);
      if (clientId === undefined) throw missingField(resolved.name, config.clientIdField);
      const clientSecret = secretField(secret, config.clientSecretField, false);
      const stored = secretField(secret, config.refreshTokenField, true);
      if (stored === undefined) throw missingField(resolved.name, config.refreshTokenField);
      const alias = keyOf(clientId, stored);
      const lineage = aliases.get(alias) ?? alias;
      const used: string[] = [stored];
      const token = await store.get(lineage, context.forceRefresh, async () => {
        const refreshToken = latest.get(lineage) ?? stored;
        if (!used.includes(refreshToken)) used.push(refreshToken);
        const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
        if (config.scopes.length > 0) params.scope = config.scopes.join(' ');
        const response = await requestToken({
          tokenUrl: config.tokenUrl,
          params,
          clientId,
          clientSecret,
          clientAuth,
          credentialName: resolved.name,
          timeoutMs: resolved.timeoutMs,
          signal: context.signal,
          fetch: resolved.fetch,
        });
        if (response.refreshToken !== undefined && response.refreshToken !== refreshToken) {
          const next = response.refreshToken;
          used.push(next);
          latest.delete(lineage);
          latest.set(lineage, next);
          remember(alias, lineage);
          remember(keyOf(clientId, next), lineage);
          if (deps.rotate) {
            try {
              await deps.rotate(next, secret);
              resolved.logger?.info({ credential: resolved.name }, 'oauth2 refresh token rotated and stored');
            } catch (error) {
              resolved.logger?.error(
                { credential: resolved.name, err: { name: (error as Error).name } },
                'oauth2 refresh token rotated by the server but could not be stored; the new one lives only in this process',
              );
            }
          } else {
            resolved.logger?.warn(
              { credential: resolved.name },
              'oauth2 server rotated the refresh token but the backend cannot store it',
            );
          }
        }
        return response;
      });
      const header = `Bearer ${token.accessToken}`;
      request.headers.authorization = header;
      const current = latest.get(lineage);
      if (current !== undefined && !used.includes(current)) used.push(current);
      const out = [secretTarget(token.accessToken), wrapperTarget(header), ...used.map(secretTarget)];
      if (clientSecret !== undefined) out.push(secretTarget(clientSecret));
      return out;
    },
    invalidate(): void {
      store.invalidate();
    },
  };
}
