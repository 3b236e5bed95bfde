/**
 * keyward's own Vault token: token or AppRole login, renewal before expiry and re-login after
 * expiry or revocation. node-vault's renewal timers stop after one error, so this owns the loop.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import { readSecretSource } from '../bootstrap-value.js';
import { describeVaultFailure, isInvalidToken, mapVaultError } from './vault-errors.js';
import { withDeadline, type VaultClient, type VaultConfig } from './vault-client.js';

export interface VaultAuthOptions {
  readonly backend: string;
  readonly config: VaultConfig;
  readonly client: VaultClient;
  readonly baseDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

interface TokenAuthBody {
  auth?: { client_token?: unknown; lease_duration?: unknown; renewable?: unknown } | null;
}

export class VaultAuth {
  /** Epoch ms when the token expires; undefined while unknown or for non-expiring tokens. */
  private expiresAt: number | undefined;
  private renewable = false;
  private loggedIn = false;
  private pending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Counts logins (first one included), for tests and metrics. */
  logins = 0;
  /** Counts successful token renewals. */
  renewals = 0;

  constructor(private readonly options: VaultAuthOptions) {}

  private get renewBeforeMs(): number {
    return this.options.config.renewBeforeSeconds * 1000;
  }

  /** Epoch ms when the current token expires (undefined: unknown or never). */
  get tokenExpiresAt(): number | undefined {
    return this.expiresAt;
  }

  /** Makes sure a usable token is set: logs in first, renews near expiry, re-logs in after it. */
  async ensure(signal?: AbortSignal): Promise<void> {
    if (this.pending) return this.pending;
    if (!this.loggedIn) return this.login();
    const expiresAt = this.expiresAt;
    if (expiresAt === undefined) return;
    const now = this.options.clock.now();
    if (now < expiresAt - this.renewBeforeMs) return;
    if (this.renewable && now < expiresAt) {
      try {
        await this.singleFlight(() => this.renewSelf(signal));
        if (this.expiresAt !== undefined && this.options.clock.now() < this.expiresAt - this.renewBeforeMs)
          return;
      } catch (error) {
        this.options.logger.warn(
          { backend: this.options.backend, detail: mapVaultError(error, this.options.backend).detail },
          'vault token renewal failed; logging in again',
        );
      }
    }
    // A static token cannot be replaced by logging in again until it has actually expired.
    if (this.options.config.auth.method === 'token' && now < expiresAt) return;
    return this.login();
  }

  /**
   * Runs `call` with a valid token. On Vault's "invalid token" 403 (token expired or revoked under
   * us) it logs in again once and repeats the call once.
   */
  async run<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.ensure(signal);
    const tokenUsed = this.options.client.token;
    try {
      return await call();
    } catch (error) {
      if (!isInvalidToken(error) || this.closed) throw error;
      if (this.options.client.token === tokenUsed && !this.pending) this.loggedIn = false;
      await this.ensure(signal);
      return call();
    }
  }

  /** Logs in (single-flight): reads the token, or exchanges role_id + secret_id for one. */
  login(): Promise<void> {
    return this.singleFlight(() => this.doLogin());
  }

  /** Starts the background check that renews an idle token before it expires (timer is unref'd). */
  start(): void {
    if (this.timer || this.closed) return;
    const everyMs = Math.max(1000, Math.min(60_000, Math.floor(this.renewBeforeMs / 2) || 1000));
    this.timer = setInterval(() => {
      if (!this.loggedIn) return;
      this.ensure().catch((error: unknown) => {
        this.options.logger.warn(
          { backend: this.options.backend, detail: mapVaultError(error, this.options.backend).detail },
          'vault token maintenance failed; will retry',
        );
      });
    }, everyMs);
    this.timer.unref();
  }

  /** Stops renewal; an AppRole token (ours alone) is revoked with its leases. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const { client, config } = this.options;
    if (config.auth.method === 'approle' && this.loggedIn && client.token) {
      try {
        await withDeadline(() => client.write('auth/token/revoke-self', {}), config.timeoutMs);
      } catch {
        // Best effort: the token expires on its own.
      }
    }
    this.loggedIn = false;
    client.token = '';
  }

  private singleFlight(work: () => Promise<void>): Promise<void> {
    if (this.pending) return this.pending;
    const p = work().finally(() => {
      if (this.pending === p) this.pending = undefined;
    });
    this.pending = p;
    return p;
  }

  private async doLogin(): Promise<void> {
    const { client, config, baseDir, clock } = this.options;
    const auth = config.auth;
    this.loggedIn = false;
    client.token = '';
    try {
      if (auth.method === 'token') {
        client.token = readSecretSource(auth.token, baseDir);
        await this.lookupSelf();
      } else {
        const roleId = readSecretSource(auth.roleId, baseDir);
        const secretId = readSecretSource(auth.secretId, baseDir);
        const body = (await withDeadline(
          () => client.write(`auth/${auth.mount}/login`, { role_id: roleId, secret_id: secretId }),
          config.timeoutMs,
        )) as TokenAuthBody;
        const token = body.auth?.client_token;
        if (typeof token !== 'string' || token === '') {
          throw Object.assign(new Error('approle login returned no token'), {
            response: { statusCode: 502, body: null },
          });
        }
        client.token = token;
        this.applyAuth(body, clock.now());
      }
    } catch (error) {
      client.token = '';
      throw mapVaultError(error, this.options.backend, clock.now());
    }
    this.loggedIn = true;
    this.logins += 1;
  }

  private async lookupSelf(): Promise<void> {
    const { client, config, clock } = this.options;
    try {
      const body = (await withDeadline(() => client.read('auth/token/lookup-self'), config.timeoutMs)) as {
        data?: { ttl?: unknown; renewable?: unknown };
      };
      const ttl = typeof body.data?.ttl === 'number' ? body.data.ttl : 0;
      this.expiresAt = ttl > 0 ? clock.now() + ttl * 1000 : undefined;
      this.renewable = body.data?.renewable === true;
    } catch (error) {
      const f = describeVaultFailure(error);
      // A policy without lookup-self still lets the token work: run without expiry knowledge.
      if (f.status === 403 && !isInvalidToken(error)) {
        this.expiresAt = undefined;
        this.renewable = false;
        return;
      }
      throw error;
    }
  }

  private async renewSelf(signal?: AbortSignal): Promise<void> {
    const { client, config, clock } = this.options;
    const body = (await withDeadline(
      () => client.write('auth/token/renew-self', {}),
      config.timeoutMs,
      signal,
    )) as TokenAuthBody;
    this.applyAuth(body, clock.now());
    this.renewals += 1;
  }

  private applyAuth(body: TokenAuthBody, now: number): void {
    const duration = typeof body.auth?.lease_duration === 'number' ? body.auth.lease_duration : 0;
    this.expiresAt = duration > 0 ? now + duration * 1000 : undefined;
    this.renewable = body.auth?.renewable === true;
  }
}
