/**
 * The short-lived state of consents, in this process: links handed to agents (tickets), consents
 * started at a provider (`state`), and browsers signed in to keyward. Everything is single-use
 * where it matters (a ticket, a state), bounded in number and in time, and found only by an
 * unguessable 256-bit id. A browser is bound by an HttpOnly cookie whose SHA-256 the flow keeps.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';

/** Who a link was made for, and for which waiting call. */
export interface Ticket {
  readonly id: string;
  readonly credentialId: string;
  readonly provider: string;
  readonly ref: string;
  readonly tenant: string;
  readonly agent: string;
  readonly user: string;
  readonly requestId: string;
  readonly expiresAt: number;
}

/** A consent in progress at a provider (or a sign-in to keyward on the way to one). */
export interface Flow {
  readonly state: string;
  readonly kind: 'signIn' | 'connect';
  readonly ticket: Ticket;
  readonly verifier: string;
  readonly nonce: string | undefined;
  /** SHA-256 of the browser cookie that started it. */
  readonly browser: string;
  readonly expiresAt: number;
}

export interface SignedIn {
  readonly user: string;
  readonly expiresAt: number;
}

const MAX_TICKETS = 10_000;
const MAX_PER_USER = 20;
const MAX_FLOWS = 10_000;
const MAX_SESSIONS = 10_000;

export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

export function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function bounded<V>(map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}

/**
 * Where tickets, consents in progress and sign-ins live: this process (MemoryFlowStore), or Redis
 * shared by every replica (redis-flow-store.ts, sealed against forgery) so `/oauth/start` and
 * `/oauth/callback` may reach any replica behind a load balancer.
 */
export interface FlowStore {
  issueTicket(fields: Omit<Ticket, 'id' | 'expiresAt'>, ttlSeconds: number): Promise<Ticket>;
  /** Takes a ticket once: a second use, or a use after it expired, finds nothing. */
  takeTicket(id: string): Promise<Ticket | undefined>;
  /** A fresh `state` (256 random bits). */
  newState(): string;
  startFlowWithState(
    state: string,
    fields: Omit<Flow, 'state' | 'expiresAt'>,
    ttlSeconds: number,
  ): Promise<Flow>;
  /** Takes a flow by its `state` once (replays find nothing); expired flows are dropped. */
  takeFlow(state: string): Promise<Flow | 'expired' | undefined>;
  signIn(user: string, ttlSeconds: number): Promise<string>;
  signedIn(id: string | undefined): Promise<SignedIn | undefined>;
  /**
   * One refresh of a user's tokens at a time across replicas (a provider that rotates refresh
   * tokens revokes the grant when an old one is replayed). True when this caller holds it.
   */
  acquireRefresh(key: string, ttlMs: number): Promise<boolean>;
  releaseRefresh(key: string): Promise<void>;
  close(): Promise<void>;
}

export class MemoryFlowStore implements FlowStore {
  private readonly tickets = new Map<string, Ticket>();
  private readonly flows = new Map<string, Flow>();
  private readonly sessions = new Map<string, SignedIn>();

  constructor(private readonly clock: Clock) {}

  async issueTicket(fields: Omit<Ticket, 'id' | 'expiresAt'>, ttlSeconds: number): Promise<Ticket> {
    this.sweep();
    // At most so many live links per user and credential: the oldest stop working.
    const same = [...this.tickets.values()].filter(
      (t) => t.user === fields.user && t.tenant === fields.tenant && t.credentialId === fields.credentialId,
    );
    for (const old of same.slice(0, Math.max(0, same.length - MAX_PER_USER + 1))) this.tickets.delete(old.id);
    const ticket: Ticket = { ...fields, id: randomId(), expiresAt: this.clock.now() + ttlSeconds * 1000 };
    this.tickets.set(ticket.id, ticket);
    bounded(this.tickets, MAX_TICKETS);
    return ticket;
  }

  async takeTicket(id: string): Promise<Ticket | undefined> {
    const ticket = this.tickets.get(id);
    if (ticket === undefined) return undefined;
    this.tickets.delete(id);
    return this.clock.now() < ticket.expiresAt ? ticket : undefined;
  }

  newState(): string {
    return randomId();
  }

  async startFlowWithState(
    state: string,
    fields: Omit<Flow, 'state' | 'expiresAt'>,
    ttlSeconds: number,
  ): Promise<Flow> {
    this.sweep();
    const flow: Flow = { ...fields, state, expiresAt: this.clock.now() + ttlSeconds * 1000 };
    this.flows.set(state, flow);
    bounded(this.flows, MAX_FLOWS);
    return flow;
  }

  async takeFlow(state: string): Promise<Flow | 'expired' | undefined> {
    const flow = this.flows.get(state);
    if (flow === undefined) return undefined;
    this.flows.delete(state);
    return this.clock.now() < flow.expiresAt ? flow : 'expired';
  }

  async signIn(user: string, ttlSeconds: number): Promise<string> {
    const id = randomId();
    this.sessions.set(digest(id), { user, expiresAt: this.clock.now() + ttlSeconds * 1000 });
    bounded(this.sessions, MAX_SESSIONS);
    return id;
  }

  async signedIn(id: string | undefined): Promise<SignedIn | undefined> {
    if (id === undefined || id.length > 100) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (session === undefined) return undefined;
    if (this.clock.now() >= session.expiresAt) {
      this.sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** This process already refreshes single-flight per key. */
  async acquireRefresh(): Promise<boolean> {
    return true;
  }

  async releaseRefresh(): Promise<void> {}

  async close(): Promise<void> {}

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, t] of this.tickets) if (now >= t.expiresAt) this.tickets.delete(id);
    for (const [id, f] of this.flows) if (now >= f.expiresAt) this.flows.delete(id);
    for (const [id, s] of this.sessions) if (now >= s.expiresAt) this.sessions.delete(id);
  }
}
