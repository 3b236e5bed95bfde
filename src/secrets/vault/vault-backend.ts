/** The HashiCorp Vault SecretBackend: KV v2 reads/writes and dynamic secrets with leases, via node-vault. */
import { KeywardError } from '../../core/errors.js';
import type { ProbeResult, Secret, SecretRequest } from '../../core/types.js';
import type {
  BackendDeps,
  GetOptions,
  RotateOptions,
  SecretBackend,
  SecretSummary,
} from '../secret-backend.js';
import { VaultAuth } from './vault-auth.js';
import {
  createVaultClient,
  safeVaultPath,
  withDeadline,
  type VaultClient,
  type VaultConfig,
} from './vault-client.js';
import { describeVaultFailure, isCasMismatch, mapVaultError } from './vault-errors.js';
import { VaultLeases, type LeaseEnvelope } from './vault-leases.js';

interface KvMetadata {
  version?: unknown;
  deletion_time?: unknown;
  destroyed?: unknown;
  created_time?: unknown;
  custom_metadata?: unknown;
}

interface KvReadBody {
  data?: { data?: unknown; metadata?: KvMetadata } | null;
}

/** Picks the requested field; default: the `value` key, else the only key. */
function selectField(
  data: Readonly<Record<string, unknown>>,
  field: string | undefined,
  backend: string,
): { value: string; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || v === undefined) continue;
    fields[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const keys = Object.keys(fields);
  const name = field ?? (keys.includes('value') ? 'value' : keys.length === 1 ? keys[0] : undefined);
  const value = name === undefined ? undefined : fields[name];
  if (value === undefined) {
    throw new KeywardError(
      'credential_not_found',
      field === undefined
        ? `Vault backend "${backend}": the secret has several fields; set "field" on the credential`
        : `Vault backend "${backend}": the secret has no field "${field}"`,
      { detail: `fields present: ${keys.length}` },
    );
  }
  return { value, fields };
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export class VaultBackend implements SecretBackend {
  readonly kind = 'vault';
  /** KV keeps each field as its own key. */
  readonly storesOneString = false;
  readonly readPermissionHint = 'grant "read" on its path in the Vault policy';
  readonly client: VaultClient;
  readonly auth: VaultAuth;
  readonly leases: VaultLeases;
  private readonly listeners: ((ref: string | undefined) => void)[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    private readonly config: VaultConfig,
    private readonly deps: BackendDeps,
  ) {
    this.client = createVaultClient(config, deps.baseDir);
    this.auth = new VaultAuth({
      backend: name,
      config,
      client: this.client,
      baseDir: deps.baseDir,
      clock: deps.clock,
      logger: deps.logger,
    });
    this.leases = new VaultLeases({
      backend: name,
      client: this.client,
      clock: deps.clock,
      logger: deps.logger,
      timeoutMs: config.timeoutMs,
      renewBeforeMs: config.renewBeforeSeconds * 1000,
    });
    this.auth.start();
  }

  private isDynamic(ref: string): boolean {
    return this.config.dynamicMounts.some((m) => {
      const mount = m.replace(/^\/+|\/+$/g, '');
      return ref === mount || ref.startsWith(`${mount}/`);
    });
  }

  private path(ref: string): string {
    const p = safeVaultPath(ref);
    if (p === undefined) {
      throw new KeywardError('credential_not_found', `Vault backend "${this.name}": no such credential`, {
        detail: 'ref rejected: not a plain relative path',
      });
    }
    return p;
  }

  /** One authenticated, time-bounded Vault call with errors mapped to the catalog. */
  private async call<T>(run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.closed) {
      throw new KeywardError('secret_backend_unavailable', `Vault backend "${this.name}" is closed`, {
        retryAfterSeconds: 1,
      });
    }
    try {
      return await this.auth.run(() => withDeadline(run, this.config.timeoutMs, signal), signal);
    } catch (error) {
      throw mapVaultError(error, this.name, this.deps.clock.now());
    }
  }

  async get(request: SecretRequest, options: GetOptions = {}): Promise<Secret> {
    const path = this.path(request.ref);
    if (this.isDynamic(request.ref)) return this.getDynamic(request, path, options);
    const mount = this.config.mount;
    const version = request.version;
    if (version !== undefined && !/^[1-9][0-9]*$/.test(version)) {
      throw new KeywardError(
        'credential_not_found',
        `Vault backend "${this.name}": no such credential version`,
      );
    }
    const query = version === undefined ? '' : `?version=${version}`;
    const body = (await this.call(
      () => this.client.read(`${mount}/data/${path}${query}`),
      options.signal,
    )) as KvReadBody;
    const data = body.data?.data;
    const metadata = body.data?.metadata ?? {};
    if (!data || typeof data !== 'object') {
      throw new KeywardError(
        'credential_revoked',
        `Vault backend "${this.name}": the credential was deleted`,
        {
          detail: 'kv read returned no data',
        },
      );
    }
    const { value, fields } = selectField(data as Record<string, unknown>, request.field, this.name);
    const deletionTime =
      typeof metadata.deletion_time === 'string' ? Date.parse(metadata.deletion_time) : NaN;
    const secretMetadata = stringMap(metadata.custom_metadata);
    return {
      value,
      version: String(metadata.version ?? version ?? ''),
      keyId: `vault:${this.name}:${mount}/${request.ref}`,
      fields,
      ...(Number.isFinite(deletionTime) ? { expiresAt: deletionTime } : {}),
      ...(secretMetadata ? { metadata: secretMetadata } : {}),
    };
  }

  private async getDynamic(request: SecretRequest, path: string, options: GetOptions): Promise<Secret> {
    const current = this.leases.acquire(
      request.ref,
      () => this.call(() => this.client.read(path), options.signal) as Promise<LeaseEnvelope>,
      false,
    );
    let entry = await current;
    if (
      options.rejectedVersion !== undefined &&
      options.rejectedVersion === this.leaseVersion(entry.leaseId)
    ) {
      entry = await this.leases.acquire(
        request.ref,
        () => this.call(() => this.client.read(path), options.signal) as Promise<LeaseEnvelope>,
        true,
      );
    }
    return this.dynamicSecret(request, entry.leaseId, entry.data, entry.expiresAt, entry.renewable);
  }

  private leaseVersion(leaseId: string): string {
    return leaseId.slice(leaseId.lastIndexOf('/') + 1);
  }

  private dynamicSecret(
    request: SecretRequest,
    leaseId: string,
    data: Readonly<Record<string, unknown>>,
    expiresAt: number,
    renewable: boolean,
  ): Secret {
    const { value, fields } = selectField(data, request.field, this.name);
    return {
      value,
      version: this.leaseVersion(leaseId),
      keyId: `vault:${this.name}:${request.ref}`,
      fields,
      ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
      ...(leaseId ? { leaseId, renewable } : {}),
    };
  }

  /**
   * Renews a dynamic secret's lease (or re-issues it when it cannot be renewed). KV secrets have
   * no lease: returns undefined.
   */
  async renew(secret: Secret): Promise<Secret | undefined> {
    if (!secret.leaseId) return undefined;
    const entry = this.leases.byLeaseId(secret.leaseId);
    if (!entry) return undefined;
    const fresh = await this.leases.acquire(
      entry.ref,
      () => this.call(() => this.client.read(this.path(entry.ref))) as Promise<LeaseEnvelope>,
      false,
    );
    const field = Object.entries(secret.fields ?? {}).find(([, v]) => v === secret.value)?.[0];
    return this.dynamicSecret(
      { ref: entry.ref, ...(field !== undefined ? { field } : {}) },
      fresh.leaseId,
      fresh.data,
      fresh.expiresAt,
      fresh.renewable,
    );
  }

  /** Writes a new KV v2 version with check-and-set against the version just read. */
  async rotate(
    ref: string,
    newValue: string | undefined,
    options: RotateOptions = {},
  ): Promise<{ version: string }> {
    if (newValue === undefined || options.trigger) {
      throw new KeywardError(
        'credential_invalid',
        `Vault backend "${this.name}" cannot trigger rotation itself; pass the new value`,
      );
    }
    if (this.isDynamic(ref)) {
      throw new KeywardError(
        'credential_invalid',
        `Vault backend "${this.name}": dynamic secrets rotate by lease`,
      );
    }
    const path = this.path(ref);
    const mount = this.config.mount;
    for (let attempt = 0; ; attempt += 1) {
      let current: Record<string, unknown> = {};
      let cas = 0;
      try {
        const body = (await this.call(() => this.client.read(`${mount}/data/${path}`))) as KvReadBody;
        if (body.data?.data && typeof body.data.data === 'object')
          current = body.data.data as Record<string, unknown>;
        cas = Number(body.data?.metadata?.version ?? 0);
      } catch (error) {
        if (
          !(error instanceof KeywardError) ||
          (error.code !== 'credential_not_found' && error.code !== 'credential_revoked')
        ) {
          throw error;
        }
        cas = await this.currentVersion(path);
      }
      const keys = Object.keys(current);
      const field = keys.includes('value') || keys.length !== 1 ? 'value' : (keys[0] as string);
      try {
        const body = (await this.auth.run(() =>
          withDeadline(
            () =>
              this.client.write(`${mount}/data/${path}`, {
                options: { cas },
                data: { ...current, [field]: newValue },
              }),
            this.config.timeoutMs,
          ),
        )) as { data?: { version?: unknown } };
        this.emitChange(ref);
        return { version: String(body.data?.version ?? '') };
      } catch (error) {
        if (isCasMismatch(error) && attempt < 2) continue;
        throw mapVaultError(error, this.name, this.deps.clock.now());
      }
    }
  }

  private async currentVersion(path: string): Promise<number> {
    try {
      const body = (await this.call(() => this.client.read(`${this.config.mount}/metadata/${path}`))) as {
        data?: { current_version?: unknown };
      };
      return Number(body.data?.current_version ?? 0);
    } catch (error) {
      if (error instanceof KeywardError && error.code === 'credential_not_found') return 0;
      throw error;
    }
  }

  /** Creates or replaces the value (new KV version, `value` key). */
  async set(ref: string, value: string): Promise<{ version: string }> {
    const path = this.path(ref);
    const body = (await this.call(() =>
      this.client.write(`${this.config.mount}/data/${path}`, { data: { value } }),
    )) as {
      data?: { version?: unknown };
    };
    this.emitChange(ref);
    return { version: String(body.data?.version ?? '') };
  }

  /** Soft-deletes the latest version (recoverable with `vault kv undelete`). */
  async remove(ref: string): Promise<void> {
    const path = this.path(ref);
    await this.call(() => this.client.delete(`${this.config.mount}/data/${path}`));
    this.emitChange(ref);
  }

  /** Lists KV names (recursively) with their current versions; never values. */
  async list(): Promise<SecretSummary[]> {
    const out: SecretSummary[] = [];
    const mount = this.config.mount;
    const walk = async (prefix: string, depth: number): Promise<void> => {
      let keys: string[] = [];
      try {
        const body = (await this.call(() => this.client.list(`${mount}/metadata/${prefix}`))) as {
          data?: { keys?: unknown };
        };
        keys = Array.isArray(body.data?.keys)
          ? (body.data.keys as unknown[]).filter((k): k is string => typeof k === 'string')
          : [];
      } catch (error) {
        if (error instanceof KeywardError && error.code === 'credential_not_found') return;
        throw error;
      }
      for (const key of keys) {
        if (key.endsWith('/')) {
          if (depth < 8) await walk(`${prefix}${key}`, depth + 1);
          continue;
        }
        const name = `${prefix}${key}`;
        const meta = (await this.call(() => this.client.read(`${mount}/metadata/${name}`))) as {
          data?: { current_version?: unknown; created_time?: unknown; updated_time?: unknown };
        };
        out.push({
          name,
          version: String(meta.data?.current_version ?? ''),
          ...(typeof meta.data?.created_time === 'string' ? { createdAt: meta.data.created_time } : {}),
          ...(typeof meta.data?.updated_time === 'string' ? { updatedAt: meta.data.updated_time } : {}),
        });
      }
    };
    await walk('', 0);
    return out;
  }

  onChange(listener: (ref: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  private emitChange(ref: string): void {
    for (const l of this.listeners) l(ref);
  }

  /** Health (reachable, unsealed), then login (AppRole/token accepted). Never throws. */
  async probe(): Promise<ProbeResult> {
    const where = this.config.address;
    try {
      const health = (await withDeadline(() => this.client.health(), this.config.timeoutMs)) as {
        sealed?: unknown;
        initialized?: unknown;
      } | null;
      if (health && health.initialized === false) {
        return { ok: false, message: `Vault at ${where} is not initialised: run \`vault operator init\`` };
      }
      if (health && health.sealed === true) {
        return { ok: false, message: `Vault at ${where} is sealed: unseal it (\`vault operator unseal\`)` };
      }
    } catch (error) {
      const f = describeVaultFailure(error);
      return {
        ok: false,
        message: `cannot reach Vault at ${where} (${f.code ?? (f.status !== undefined ? `HTTP ${f.status}` : 'timeout')}): check backends.${this.name}.address and the network`,
      };
    }
    try {
      await this.auth.login();
    } catch (error) {
      const e = mapVaultError(error, this.name);
      const how = this.config.auth.method === 'approle' ? 'AppRole login' : 'token';
      if (e.code === 'credential_invalid' && this.config.auth.method === 'approle') {
        return {
          ok: false,
          message: `Vault AppRole login refused at ${where}: role_id or secret_id is wrong, expired or used up (${e.detail ?? e.message})`,
        };
      }
      if (e.code === 'credential_expired') {
        return { ok: false, message: `Vault ${how} at ${where} is invalid or expired: issue a new one` };
      }
      return {
        ok: false,
        message: `Vault ${how} failed at ${where}: ${e.message}${e.detail ? ` (${e.detail})` : ''}`,
      };
    }
    const ns = this.config.namespace ? ` namespace ${this.config.namespace},` : '';
    return {
      ok: true,
      message: `Vault at ${where} is reachable and unsealed;${ns} ${this.config.auth.method} login works`,
    };
  }

  /** Revokes this process's leases, then its AppRole token; stops timers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leases.revokeAll();
    await this.auth.close();
  }
}

/** Factory for the backend registry. */
export function createVaultBackend(name: string, config: VaultConfig, deps: BackendDeps): VaultBackend {
  return new VaultBackend(name, config, deps);
}
