/**
 * Picks the SecretBackend implementation named by each `config.backends.*.type`. Vault and AWS are
 * loaded only when configured: their client libraries take most of a cold start otherwise.
 */
import { ConfigError } from '../core/errors.js';
import type { BackendConfig, KeywardConfig } from '../config/schema.js';
import { resolvePath } from '../config/load.js';
import { EnvBackend } from './env/env-backend.js';
import { FileBackend } from './file/file-backend.js';
import { type ResilienceOptions, type ResilientBackend, withResilience } from './resilient-backend.js';
import type { BackendDeps, SecretBackend } from './secret-backend.js';

/** Creates the raw backend for one config entry (no retries/breaker; see createSecretBackends). */
export async function createSecretBackend(
  name: string,
  config: BackendConfig,
  deps: BackendDeps,
): Promise<SecretBackend> {
  switch (config.type) {
    case 'file':
      return FileBackend.open({
        path: resolvePath(config.path, deps.baseDir),
        keyPath: resolvePath(config.keyPath, deps.baseDir),
        createIfMissing: config.createIfMissing,
        clock: deps.clock,
        logger: deps.logger.child({ backend: name }),
      });
    case 'env':
      return new EnvBackend(config.prefix, deps.logger.child({ backend: name }));
    case 'vault': {
      const { createVaultBackend } = await import('./vault/vault-backend.js');
      return createVaultBackend(name, config, { ...deps, logger: deps.logger.child({ backend: name }) });
    }
    case 'aws-secrets-manager': {
      const { createAwsBackend } = await import('./aws/aws-backend.js');
      return createAwsBackend(name, config, { ...deps, logger: deps.logger.child({ backend: name }) });
    }
    default: {
      const unknown: never = config;
      throw new ConfigError(`unknown backend type ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

/**
 * Creates every configured backend, each wrapped in a ResilientBackend (timeout, retries, breaker)
 * from its `timeoutMs` / `retries`. On failure, closes the ones already opened and rethrows.
 */
export async function createSecretBackends(
  backends: KeywardConfig['backends'],
  deps: BackendDeps,
  resilience: Partial<Omit<ResilienceOptions, 'retries' | 'timeoutMs'>> = {},
): Promise<Map<string, ResilientBackend>> {
  const out = new Map<string, ResilientBackend>();
  try {
    for (const [name, config] of Object.entries(backends)) {
      const raw = await createSecretBackend(name, config, deps);
      out.set(
        name,
        withResilience(raw, config, { logger: deps.logger, clock: deps.clock, name }, resilience),
      );
    }
  } catch (error) {
    await Promise.allSettled([...out.values()].map((b) => b.close()));
    throw error;
  }
  return out;
}

/** Per-backend `staleSeconds`, for CredentialResolver. */
export function staleSecondsByBackend(backends: KeywardConfig['backends']): Record<string, number> {
  return Object.fromEntries(Object.entries(backends).map(([name, b]) => [name, b.staleSeconds]));
}
