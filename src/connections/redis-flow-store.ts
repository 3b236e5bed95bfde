/**
 * Consent state shared by replicas through Redis, so `/oauth/start` and `/oauth/callback` may
 * reach any replica behind a load balancer: tickets, consents in progress (`state`) and sign-ins,
 * each under the SHA-256 of its id, with a Redis TTL, taken once with GETDEL (single-use across
 * replicas), and sealed with an HMAC under a key Redis never sees (derived from
 * `cache.encryptionKey`, policy/redis/state-seal.ts): a record written by anyone else (a forged
 * sign-in for another user, a ticket for someone else) fails to open and counts as absent. The
 * refresh lock is SET NX PX (one replica refreshes a user's tokens at a time).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import type { StateSeal } from '../policy/redis/state-seal.js';
import { digest, randomId, type Flow, type FlowStore, type SignedIn, type Ticket } from './flows.js';

export interface RedisFlowStoreOptions {
  readonly client: Redis;
  readonly keyPrefix: string;
  readonly seal: StateSeal;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class RedisFlowStore implements FlowStore {
  private readonly owner = randomBytes(16).toString('hex');

  constructor(private readonly options: RedisFlowStoreOptions) {}

  private key(kind: string, id: string): string {
    return `${this.options.keyPrefix}oauth:${kind}:${digest(id)}`;
  }

  private async put(kind: string, id: string, value: unknown, ttlSeconds: number): Promise<void> {
    const sealed = this.options.seal.seal(`oauth-${kind}`, id, JSON.stringify(value));
    await this.options.client.set(this.key(kind, id), sealed, 'EX', Math.max(1, Math.ceil(ttlSeconds)));
  }

  private open<T>(kind: string, id: string, stored: string | null): T | undefined {
    if (stored === null) return undefined;
    const json = this.options.seal.open(`oauth-${kind}`, id, stored);
    if (json === undefined) {
      this.options.logger.error({ kind }, 'oauth flow state in Redis failed its seal: ignored');
      return undefined;
    }
    return JSON.parse(json) as T;
  }

  async issueTicket(fields: Omit<Ticket, 'id' | 'expiresAt'>, ttlSeconds: number): Promise<Ticket> {
    const ticket: Ticket = {
      ...fields,
      id: randomId(),
      expiresAt: this.options.clock.now() + ttlSeconds * 1000,
    };
    await this.put('ticket', ticket.id, ticket, ttlSeconds);
    return ticket;
  }

  async takeTicket(id: string): Promise<Ticket | undefined> {
    const ticket = this.open<Ticket>('ticket', id, await this.options.client.getdel(this.key('ticket', id)));
    return ticket !== undefined && ticket.id === id && this.options.clock.now() < ticket.expiresAt
      ? ticket
      : undefined;
  }

  newState(): string {
    return randomId();
  }

  async startFlowWithState(
    state: string,
    fields: Omit<Flow, 'state' | 'expiresAt'>,
    ttlSeconds: number,
  ): Promise<Flow> {
    const flow: Flow = { ...fields, state, expiresAt: this.options.clock.now() + ttlSeconds * 1000 };
    await this.put('state', state, flow, ttlSeconds);
    return flow;
  }

  async takeFlow(state: string): Promise<Flow | 'expired' | undefined> {
    const flow = this.open<Flow>('state', state, await this.options.client.getdel(this.key('state', state)));
    if (flow === undefined || flow.state !== state) return undefined;
    return this.options.clock.now() < flow.expiresAt ? flow : 'expired';
  }

  async signIn(user: string, ttlSeconds: number): Promise<string> {
    const id = randomId();
    const session: SignedIn = { user, expiresAt: this.options.clock.now() + ttlSeconds * 1000 };
    await this.put('session', id, session, ttlSeconds);
    return id;
  }

  async signedIn(id: string | undefined): Promise<SignedIn | undefined> {
    if (id === undefined || id.length > 100) return undefined;
    const session = this.open<SignedIn>(
      'session',
      id,
      await this.options.client.get(this.key('session', id)),
    );
    return session !== undefined && this.options.clock.now() < session.expiresAt ? session : undefined;
  }

  async acquireRefresh(key: string, ttlMs: number): Promise<boolean> {
    try {
      const ok = await this.options.client.set(this.key('refresh', key), this.owner, 'PX', ttlMs, 'NX');
      return ok === 'OK';
    } catch {
      // Redis down: refresh here (single-flight in this process still holds).
      return true;
    }
  }

  async releaseRefresh(key: string): Promise<void> {
    const k = this.key('refresh', key);
    // Only the holder releases it.
    await this.options.client.eval(
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
      1,
      k,
      this.owner,
    );
  }

  async close(): Promise<void> {
    this.options.client.disconnect();
  }
}
