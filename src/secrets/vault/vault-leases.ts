/**
 * Dynamic-secret leases: one live lease per ref, reused while valid, renewed before expiry when
 * renewable, re-issued when not (or when renewal is refused), revoked on close.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import { describeVaultFailure, mapVaultError } from './vault-errors.js';
import { withDeadline, type VaultClient } from './vault-client.js';

/** A lease-bearing read: the raw data plus the lease terms. */
export interface LeaseEntry {
  readonly ref: string;
  readonly leaseId: string;
  readonly data: Readonly<Record<string, unknown>>;
  expiresAt: number;
  renewable: boolean;
}

export interface VaultLeasesOptions {
  readonly backend: string;
  readonly client: VaultClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly timeoutMs: number;
  readonly renewBeforeMs: number;
}

export interface LeaseEnvelope {
  lease_id?: unknown;
  lease_duration?: unknown;
  renewable?: unknown;
  data?: unknown;
}

export class VaultLeases {
  private readonly current = new Map<string, LeaseEntry>();
  /** Every lease issued and not yet revoked, for revocation on close. */
  private readonly issued = new Map<string, LeaseEntry>();
  private readonly inflight = new Map<string, Promise<LeaseEntry>>();
  /** Counters for tests and metrics. */
  readonly stats = { issued: 0, renewed: 0, revoked: 0 };

  constructor(private readonly options: VaultLeasesOptions) {}

  /** The lease entry with this id, if it is still tracked. */
  byLeaseId(leaseId: string): LeaseEntry | undefined {
    return this.issued.get(leaseId);
  }

  /**
   * Returns a usable lease for `ref`: the current one while it is fresh, else renewed, else a new
   * one from `read`. `forceNew` drops the current lease (the upstream rejected it) and re-issues.
   */
  async acquire(ref: string, read: () => Promise<LeaseEnvelope>, forceNew = false): Promise<LeaseEntry> {
    const entry = this.current.get(ref);
    if (entry && forceNew) {
      this.current.delete(ref);
      void this.revoke(entry);
    } else if (entry) {
      const now = this.options.clock.now();
      if (now < entry.expiresAt - this.options.renewBeforeMs) return entry;
      if (entry.renewable && now < entry.expiresAt) {
        try {
          await this.renew(entry);
          if (this.options.clock.now() < entry.expiresAt - this.options.renewBeforeMs) return entry;
        } catch (error) {
          const f = describeVaultFailure(error);
          const refused = f.status !== undefined && f.status < 500 && f.status !== 429;
          // Still valid and the backend is only briefly unavailable: keep using it.
          if (!refused && this.options.clock.now() < entry.expiresAt) return entry;
          // Vault no longer knows a lease that should still be alive: an operator revoked it.
          // Report that once (the caller's cache is evicted); the next read issues a new lease.
          if (refused && f.message.includes('lease not found')) {
            this.current.delete(ref);
            this.issued.delete(entry.leaseId);
            throw mapVaultError(error, this.options.backend, this.options.clock.now());
          }
          this.options.logger.info(
            { backend: this.options.backend, detail: mapVaultError(error, this.options.backend).detail },
            'vault lease renewal refused; issuing a new lease',
          );
        }
      }
      this.current.delete(ref);
    }
    return this.issue(ref, read);
  }

  /** Renews one lease in place (`increment` is measured from now; Vault may cap it). */
  async renew(entry: LeaseEntry): Promise<void> {
    const { client, timeoutMs, clock } = this.options;
    const body = (await withDeadline(
      () => client.write('sys/leases/renew', { lease_id: entry.leaseId }),
      timeoutMs,
    )) as LeaseEnvelope;
    const duration = typeof body.lease_duration === 'number' ? body.lease_duration : 0;
    entry.expiresAt = clock.now() + duration * 1000;
    entry.renewable = body.renewable === true && duration > 0;
    this.stats.renewed += 1;
  }

  /** Revokes every lease this process issued that has not expired yet. Never throws. */
  async revokeAll(): Promise<void> {
    const now = this.options.clock.now();
    const live = [...this.issued.values()].filter((e) => e.expiresAt > now);
    this.current.clear();
    await Promise.all(live.map((e) => this.revoke(e)));
    this.issued.clear();
  }

  private async revoke(entry: LeaseEntry): Promise<void> {
    this.issued.delete(entry.leaseId);
    try {
      await withDeadline(
        () => this.options.client.write('sys/leases/revoke', { lease_id: entry.leaseId }),
        this.options.timeoutMs,
      );
      this.stats.revoked += 1;
    } catch (error) {
      this.options.logger.warn(
        { backend: this.options.backend, detail: mapVaultError(error, this.options.backend).detail },
        'vault lease revocation failed; it will expire on its own',
      );
    }
  }

  private issue(ref: string, read: () => Promise<LeaseEnvelope>): Promise<LeaseEntry> {
    const running = this.inflight.get(ref);
    if (running) return running;
    const p = (async () => {
      const body = await read();
      const now = this.options.clock.now();
      const data = body.data && typeof body.data === 'object' ? (body.data as Record<string, unknown>) : {};
      const leaseId = typeof body.lease_id === 'string' ? body.lease_id : '';
      const duration = typeof body.lease_duration === 'number' ? body.lease_duration : 0;
      const entry: LeaseEntry = {
        ref,
        leaseId,
        data,
        expiresAt: duration > 0 ? now + duration * 1000 : Number.POSITIVE_INFINITY,
        renewable: body.renewable === true,
      };
      if (leaseId !== '') {
        this.current.set(ref, entry);
        this.issued.set(leaseId, entry);
        this.stats.issued += 1;
      }
      return entry;
    })().finally(() => this.inflight.delete(ref));
    this.inflight.set(ref, p);
    return p;
  }
}
