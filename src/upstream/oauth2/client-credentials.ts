/**
 * OAuth2 client credentials (RFC 6749 §4.4) as an Injector: client_id and client_secret come from the
 * secret's fields, the access token is fetched from the token endpoint, cached until its expiry minus
 * the skew (single-flight), and sent as `Authorization: Bearer`.
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

export type ClientCredentialsConfig = Extract<
  z.infer<typeof injectSchema>,
  { type: 'oauth2-client-credentials' }
>;

export function createClientCredentialsInjector(
  config: ClientCredentialsConfig,
  deps: OAuth2InjectorDeps,
): Injector {
  const resolved = resolveDeps(deps, config.tokenUrl);
  const store = new TokenStore({
    clock: resolved.clock,
    skewSeconds: config.refreshSkewSeconds,
    defaultLifetimeSeconds: deps.defaultLifetimeSeconds,
    forceRefreshMinIntervalMs: deps.forceRefreshMinIntervalMs,
  });

  return {
    async inject(
      request: OutboundRequest,
      secret: Secret,
      context: InjectContext,
    ): Promise<readonly RedactionTarget[]> {
      assertOrigin(request, resolved);
      const clientId = secretField(secret, config.clientIdField, false);
      if (clientId === undefined) throw missingField(resolved.name, config.clientIdField);
      const clientSecret = secretField(secret, config.clientSecretField, true);
      if (clientSecret === undefined) throw missingField(resolved.name, config.clientSecretField);
      const key = keyOf(clientId, clientSecret);
      const token = await store.get(key, context.forceRefresh, async () => {
        const params: Record<string, string> = { grant_type: 'client_credentials' };
        if (config.scopes.length > 0) params.scope = config.scopes.join(' ');
        if (config.audience !== undefined) params.audience = config.audience;
        const response = await requestToken({
          tokenUrl: config.tokenUrl,
          params,
          clientId,
          clientSecret,
          clientAuth: config.clientAuth,
          credentialName: resolved.name,
          timeoutMs: resolved.timeoutMs,
          signal: context.signal,
          fetch: resolved.fetch,
        });
        resolved.logger?.debug(
          { credential: resolved.name, expiresInSeconds: response.expiresIn },
          'oauth2 client-credentials token fetched',
        );
        return response;
      });
      const header = `Bearer ${token.accessToken}`;
      request.headers.authorization = header;
      return [secretTarget(token.accessToken), wrapperTarget(header), secretTarget(clientSecret)];
    },
    invalidate(): void {
      store.invalidate();
    },
  };
}
