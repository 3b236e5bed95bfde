/**
 * `keyward check --probe`: connects to every configured secret backend, then tries each fixed
 * (non-templated) credential ref, and reports what works with actionable, secret-free messages.
 */
import { ConfigError, isKeywardError } from '../core/errors.js';
import type { BackendConfig, KeywardConfig } from '../config/schema.js';
import { refPlaceholders } from './ref-template.js';
import { createSecretBackend } from './registry.js';
import type { BackendDeps, SecretBackend } from './secret-backend.js';

export interface BackendProbe {
  /** Backend name in config. */
  readonly name: string;
  /** Backend type (`vault`, `aws-secrets-manager`, `file`, `env`). */
  readonly kind: string;
  readonly ok: boolean;
  /** What works, or what to fix; never a secret value. */
  readonly message: string;
}

export interface ProbeDeps extends BackendDeps {
  /** Backend factory; defaults to the registry's (tests may substitute). */
  readonly create?: (name: string, config: BackendConfig, deps: BackendDeps) => Promise<SecretBackend>;
}

async function checkCredentials(
  config: KeywardConfig,
  backendName: string,
  backend: SecretBackend,
): Promise<{ problems: string[]; checked: number; templated: number }> {
  const problems: string[] = [];
  let checked = 0;
  let templated = 0;
  for (const [id, cred] of Object.entries(config.credentials)) {
    if (cred.backend !== backendName) continue;
    if (refPlaceholders(cred.ref).length > 0) {
      templated += 1;
      continue;
    }
    checked += 1;
    try {
      await backend.get({
        ref: cred.ref,
        ...(cred.field !== undefined ? { field: cred.field } : {}),
        ...(cred.version !== undefined ? { version: cred.version } : {}),
        ...(cred.stage !== undefined ? { stage: cred.stage } : {}),
      });
    } catch (error) {
      if (!isKeywardError(error)) {
        problems.push(`credential "${id}": unexpected failure`);
        continue;
      }
      switch (error.code) {
        case 'credential_invalid':
          problems.push(`credential "${id}": no permission to read it (${backend.readPermissionHint})`);
          break;
        case 'credential_not_found':
          problems.push(`credential "${id}": not found (store it, or fix credentials.${id}.ref/field)`);
          break;
        case 'credential_revoked':
          problems.push(
            `credential "${id}": deleted, destroyed or scheduled for deletion (restore or rewrite it)`,
          );
          break;
        default:
          problems.push(`credential "${id}": ${error.message}`);
      }
    }
  }
  return { problems, checked, templated };
}

/** Probes every backend in `config.backends`. Never throws; closes what it opened. */
export async function probeBackends(config: KeywardConfig, deps: ProbeDeps): Promise<BackendProbe[]> {
  const create = deps.create ?? createSecretBackend;
  const results: BackendProbe[] = [];
  for (const [name, backendConfig] of Object.entries(config.backends)) {
    const kind = backendConfig.type;
    let backend: SecretBackend | undefined;
    try {
      backend = await create(name, backendConfig, deps);
      const probe = await backend.probe();
      if (!probe.ok) {
        results.push({ name, kind, ok: false, message: probe.message });
        continue;
      }
      const { problems, checked, templated } = await checkCredentials(config, name, backend);
      const notes: string[] = [];
      if (checked > 0) notes.push(`${checked - problems.length}/${checked} fixed credentials readable`);
      if (templated > 0) notes.push(`${templated} per-tenant/agent credentials are checked at call time`);
      const suffix = notes.length > 0 ? ` (${notes.join('; ')})` : '';
      results.push({
        name,
        kind,
        ok: problems.length === 0,
        message:
          problems.length === 0
            ? `${probe.message}${suffix}`
            : `${probe.message}${suffix}; ${problems.join('; ')}`,
      });
    } catch (error) {
      const message =
        error instanceof ConfigError || isKeywardError(error)
          ? error.message
          : `cannot open the backend: ${error instanceof Error ? error.name : 'unknown error'}`;
      results.push({ name, kind, ok: false, message });
    } finally {
      await backend?.close().catch(() => undefined);
    }
  }
  return results;
}
