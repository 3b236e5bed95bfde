/** The `env` backend (development only): a secret is the environment variable prefix + REF_UPPER. */
import { KeywardError } from '../../core/errors.js';
import type { ProbeResult, Secret, SecretRequest } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import type { SecretBackend } from '../secret-backend.js';
import { selectField } from '../secret-fields.js';

/** The variable name for a ref: `prefix` + ref upper-cased, each non-alphanumeric character → `_`. */
export function envVarName(prefix: string, ref: string): string {
  return prefix + ref.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export class EnvBackend implements SecretBackend {
  readonly kind = 'env';
  readonly storesOneString = true;
  readonly readPermissionHint = 'set the environment variable for the keyward process';
  private warned = false;

  constructor(
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(request: SecretRequest): Promise<Secret> {
    this.warnOnce();
    const name = envVarName(this.prefix, request.ref);
    const raw = this.env[name];
    if (raw === undefined || raw === '') {
      throw new KeywardError('credential_not_found', 'no such secret in the environment', {
        detail: `environment variable ${name} is not set`,
      });
    }
    return { ...selectField(raw, request.field), version: 'env', keyId: `env:${name}` };
  }

  async probe(): Promise<ProbeResult> {
    this.warnOnce();
    return { ok: true, message: `env backend (prefix ${this.prefix}): development only` };
  }

  async close(): Promise<void> {}

  private warnOnce(): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn(
      { prefix: this.prefix },
      'the env secret backend is for development only: secrets in the environment leak to child processes and /proc',
    );
  }
}
