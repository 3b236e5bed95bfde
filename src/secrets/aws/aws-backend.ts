/** The AWS Secrets Manager SecretBackend: GetSecretValue by name/ARN, stage or version, with rotation awareness. */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  type GetSecretValueCommandOutput,
  type SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';
import { KeywardError } from '../../core/errors.js';
import type { ProbeResult, Secret, SecretRequest } from '../../core/types.js';
import type { BackendConfig } from '../../config/schema.js';
import type {
  BackendDeps,
  GetOptions,
  RotateOptions,
  SecretBackend,
  SecretSummary,
} from '../secret-backend.js';
import { readSecretSource } from '../bootstrap-value.js';
import { AwsTimeoutError, mapAwsError } from './aws-errors.js';

export type AwsConfig = Extract<BackendConfig, { type: 'aws-secrets-manager' }>;

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';

/** Builds the SDK client: no SDK retries (the resilient wrapper retries), bounded sockets. */
export function createAwsClient(config: AwsConfig, baseDir: string): SecretsManagerClient {
  // The SDK is pinned to a release that supports Node 20 on purpose; its 9-line "upgrade to Node
  // 22" process warning would otherwise land in every CLI command's output. An explicit setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const options: SecretsManagerClientConfig = {
    region: config.region,
    maxAttempts: 1,
    requestHandler: { requestTimeout: config.timeoutMs, connectionTimeout: config.timeoutMs },
  };
  if (config.endpoint) options.endpoint = config.endpoint;
  const creds = config.credentials;
  if (creds && 'profile' in creds) {
    options.profile = creds.profile;
  } else if (creds) {
    options.credentials = {
      accessKeyId: readSecretSource(creds.accessKeyId, baseDir),
      secretAccessKey: readSecretSource(creds.secretAccessKey, baseDir),
      ...(creds.sessionToken ? { sessionToken: readSecretSource(creds.sessionToken, baseDir) } : {}),
    };
  }
  return new SecretsManagerClient(options);
}

export class AwsSecretsManagerBackend implements SecretBackend {
  readonly kind = 'aws-secrets-manager';
  readonly storesOneString = true;
  readonly readPermissionHint = 'allow secretsmanager:GetSecretValue on it in the IAM policy';
  readonly client: SecretsManagerClient;
  private readonly listeners: ((ref: string | undefined) => void)[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    private readonly config: AwsConfig,
    private readonly deps: BackendDeps,
    client?: SecretsManagerClient,
  ) {
    this.client = client ?? createAwsClient(config, deps.baseDir);
  }

  /**
   * Sends one command with a hard deadline via an AbortController per call (the SDK's
   * requestTimeout only logs), linked to the caller's signal.
   */
  private async send<T>(
    run: (abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    pinnedVersion = false,
  ): Promise<T> {
    if (this.closed) {
      throw new KeywardError(
        'secret_backend_unavailable',
        `AWS Secrets Manager backend "${this.name}" is closed`,
        {
          retryAfterSeconds: 1,
        },
      );
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.config.timeoutMs);
    timer.unref?.();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) controller.abort();
      return await run(controller.signal);
    } catch (error) {
      const cause = timedOut ? new AwsTimeoutError(this.config.timeoutMs) : error;
      throw mapAwsError(cause, { backend: this.name, pinnedVersion });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private fetch(
    ref: string,
    selector: { versionId?: string; stage?: string },
    signal?: AbortSignal,
  ): Promise<GetSecretValueCommandOutput> {
    return this.send(
      (abortSignal) =>
        this.client.send(
          new GetSecretValueCommand({
            SecretId: ref,
            ...(selector.versionId !== undefined ? { VersionId: selector.versionId } : {}),
            ...(selector.stage !== undefined ? { VersionStage: selector.stage } : {}),
          }),
          { abortSignal },
        ),
      signal,
      selector.versionId !== undefined,
    );
  }

  async get(request: SecretRequest, options: GetOptions = {}): Promise<Secret> {
    if (request.ref === '') {
      throw new KeywardError(
        'credential_not_found',
        `AWS Secrets Manager backend "${this.name}": no such credential`,
      );
    }
    if (request.version !== undefined) {
      return this.toSecret(
        request,
        await this.fetch(request.ref, { versionId: request.version }, options.signal),
      );
    }
    const stage = request.stage ?? CURRENT;
    const out = await this.fetch(request.ref, { stage }, options.signal);
    const rejected = options.rejectedVersion;
    // Rotation awareness: the upstream rejected the version we used. If the current version is a
    // different one, the cached copy was stale and `out` is the fix. If the current version is the
    // rejected one, a rotation may be in flight: try AWSPENDING once.
    if (rejected !== undefined && stage === CURRENT && out.VersionId === rejected) {
      try {
        const pending = await this.fetch(request.ref, { stage: PENDING }, options.signal);
        if (pending.VersionId !== undefined && pending.VersionId !== out.VersionId) {
          return this.toSecret(request, pending);
        }
      } catch (error) {
        if (!(error instanceof KeywardError) || error.code !== 'credential_not_found') throw error;
      }
    }
    return this.toSecret(request, out);
  }

  private toSecret(request: SecretRequest, out: GetSecretValueCommandOutput): Secret {
    let text: string;
    if (typeof out.SecretString === 'string') text = out.SecretString;
    else if (out.SecretBinary instanceof Uint8Array) text = Buffer.from(out.SecretBinary).toString('utf8');
    else {
      throw new KeywardError(
        'credential_not_found',
        `AWS Secrets Manager backend "${this.name}": the credential is empty`,
      );
    }
    let json: Record<string, unknown> | undefined;
    const trimmed = text.trimStart();
    if (trimmed.startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          json = parsed as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    const fields: Record<string, string> = {};
    if (json) {
      for (const [k, v] of Object.entries(json)) {
        if (v === null || v === undefined) continue;
        fields[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
    }
    let value = text;
    if (request.field !== undefined) {
      const selected = fields[request.field];
      if (selected === undefined) {
        throw new KeywardError(
          'credential_not_found',
          `AWS Secrets Manager backend "${this.name}": the secret has no field "${request.field}"`,
          {
            detail: json
              ? `json fields present: ${Object.keys(fields).length}`
              : 'secret is not a JSON object',
          },
        );
      }
      value = selected;
    }
    return {
      value,
      version: out.VersionId ?? '',
      keyId: `aws:${this.name}:${out.Name ?? request.ref}`,
      ...(json ? { fields } : {}),
    };
  }

  /** Writes a new AWSCURRENT version (PutSecretValue), or with `trigger` starts RotateSecret. */
  async rotate(
    ref: string,
    newValue: string | undefined,
    options: RotateOptions = {},
  ): Promise<{ version: string }> {
    if (options.trigger || newValue === undefined) {
      const out = await this.send((abortSignal) =>
        this.client.send(new RotateSecretCommand({ SecretId: ref, RotateImmediately: true }), {
          abortSignal,
        }),
      );
      this.emitChange(ref);
      return { version: out.VersionId ?? '' };
    }
    const out = await this.send((abortSignal) =>
      this.client.send(new PutSecretValueCommand({ SecretId: ref, SecretString: newValue }), { abortSignal }),
    );
    this.emitChange(ref);
    return { version: out.VersionId ?? '' };
  }

  /** Creates the secret, or puts a new current version when it exists. */
  async set(ref: string, value: string): Promise<{ version: string }> {
    try {
      const out = await this.send((abortSignal) =>
        this.client.send(new PutSecretValueCommand({ SecretId: ref, SecretString: value }), { abortSignal }),
      );
      this.emitChange(ref);
      return { version: out.VersionId ?? '' };
    } catch (error) {
      if (!(error instanceof KeywardError) || error.code !== 'credential_not_found') throw error;
    }
    const created = await this.send((abortSignal) =>
      this.client.send(new CreateSecretCommand({ Name: ref, SecretString: value }), { abortSignal }),
    );
    this.emitChange(ref);
    return { version: created.VersionId ?? '' };
  }

  /** Schedules deletion with the shortest recovery window (7 days); RestoreSecret undoes it. */
  async remove(ref: string): Promise<void> {
    await this.send((abortSignal) =>
      this.client.send(new DeleteSecretCommand({ SecretId: ref, RecoveryWindowInDays: 7 }), { abortSignal }),
    );
    this.emitChange(ref);
  }

  /** Names and AWSCURRENT version ids, following NextToken; never values. */
  async list(): Promise<SecretSummary[]> {
    const out: SecretSummary[] = [];
    let next: string | undefined;
    do {
      const page = await this.send((abortSignal) =>
        this.client.send(new ListSecretsCommand({ MaxResults: 100, ...(next ? { NextToken: next } : {}) }), {
          abortSignal,
        }),
      );
      for (const s of page.SecretList ?? []) {
        const current = Object.entries(s.SecretVersionsToStages ?? {}).find(([, stages]) =>
          stages.includes(CURRENT),
        );
        out.push({
          name: s.Name ?? '',
          version: current?.[0] ?? '',
          ...(s.CreatedDate ? { createdAt: s.CreatedDate.toISOString() } : {}),
          ...(s.LastChangedDate ? { updatedAt: s.LastChangedDate.toISOString() } : {}),
        });
      }
      next = page.NextToken;
    } while (next);
    return out;
  }

  onChange(listener: (ref: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  private emitChange(ref: string): void {
    for (const l of this.listeners) l(ref);
  }

  /**
   * Reachability and credentials: ListSecrets(MaxResults 1). AccessDenied there still proves the
   * endpoint and the identity work (least-privilege policies often omit ListSecrets). Never throws.
   */
  async probe(): Promise<ProbeResult> {
    const where = this.config.endpoint ?? `region ${this.config.region}`;
    try {
      await this.send((abortSignal) =>
        this.client.send(new ListSecretsCommand({ MaxResults: 1 }), { abortSignal }),
      );
      return {
        ok: true,
        message: `AWS Secrets Manager (${where}) is reachable and accepts keyward's credentials`,
      };
    } catch (error) {
      const e = error instanceof KeywardError ? error : mapAwsError(error, { backend: this.name });
      const name = e.detail?.split(' ')[1] ?? '';
      if (name === 'AccessDeniedException') {
        return {
          ok: true,
          message: `AWS Secrets Manager (${where}) is reachable and the identity is valid; ListSecrets is not allowed (fine for a least-privilege policy: each credential is checked when read)`,
        };
      }
      if (name === 'CredentialsProviderError') {
        return {
          ok: false,
          message: `no AWS credentials found for backends.${this.name}: set backends.${this.name}.credentials, AWS_PROFILE or an instance role`,
        };
      }
      if (e.code === 'credential_invalid' || e.code === 'credential_expired') {
        return {
          ok: false,
          message: `AWS Secrets Manager (${where}) refused keyward's credentials: ${e.message} (${e.detail ?? ''})`,
        };
      }
      return {
        ok: false,
        message: `cannot reach AWS Secrets Manager (${where}): ${e.message} (${e.detail ?? ''}); check backends.${this.name}.region/endpoint and the network`,
      };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }
}

/** Factory for the backend registry. */
export function createAwsBackend(
  name: string,
  config: AwsConfig,
  deps: BackendDeps,
): AwsSecretsManagerBackend {
  return new AwsSecretsManagerBackend(name, config, deps);
}
