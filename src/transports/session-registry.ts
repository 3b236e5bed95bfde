/**
 * Sessions of the HTTP transports, each bound to the subject that created it. A session id is
 * never authentication: every request is authenticated, then its subject must equal the owner's.
 *
 * A session follows its principal (issue 12 §5): each request's principal is derived from that
 * request's token. Roles and attributes that changed take effect on the session's next call; a
 * different agent or tenant for the same subject ends the session (403): it was opened for
 * someone else's credentials.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Clock } from '../core/clock.js';
import type { Principal } from '../core/types.js';
import type { Authenticated } from '../identity/authenticated.js';

export interface HttpSession<T> {
  readonly id: string;
  readonly transport: T;
  readonly server: Server;
  /** The `Authenticated.subject` that created the session. */
  readonly subject: string;
  /** The principal of the latest request (calls read it when they start). */
  principal: Principal;
  lastSeen: number;
}

/** Whether a new session may open: yes, no (all slots taken: 503), or not for this principal (429). */
export type SessionAdmission = 'ok' | 'full' | 'principal-full';

/** Why a request may not use a session: none by that id, another subject's, or a changed principal. */
export type SessionRefusal = 'unknown' | 'mismatch' | 'changed';

export class SessionRegistry<T> {
  private readonly sessions = new Map<string, HttpSession<T>>();

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions whose principal has this agent and tenant. */
  countFor(principal: Pick<Principal, 'agent' | 'tenant'>): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.principal.agent === principal.agent && s.principal.tenant === principal.tenant) n++;
    }
    return n;
  }

  add(session: HttpSession<T>): void {
    this.sessions.set(session.id, session);
  }

  delete(id: string): boolean {
    return this.sessions.delete(id);
  }

  /** Removes and returns one session (to close it). */
  take(id: string): HttpSession<T> | undefined {
    const session = this.sessions.get(id);
    if (session !== undefined) this.sessions.delete(id);
    return session;
  }

  /**
   * The session, with its principal updated from this request, or why the caller may not use it.
   * The caller ends a `changed` session (`take`, then close it).
   */
  lookup(id: string, auth: Authenticated): HttpSession<T> | SessionRefusal {
    const session = this.sessions.get(id);
    if (session === undefined) return 'unknown';
    // The user is part of every verifier's subject; compared again so that a verifier that forgot
    // it could not hand one person's session to another of the same agent.
    if (session.subject !== auth.subject || session.principal.user !== auth.principal.user) return 'mismatch';
    if (
      session.principal.agent !== auth.principal.agent ||
      session.principal.tenant !== auth.principal.tenant
    ) {
      return 'changed';
    }
    session.principal = auth.principal;
    session.lastSeen = this.clock.now();
    return session;
  }

  /** Sessions not seen for idleMs, removed from the registry; the caller closes them. */
  takeIdle(idleMs: number): HttpSession<T>[] {
    const cutoff = this.clock.now() - idleMs;
    const idle: HttpSession<T>[] = [];
    for (const session of this.sessions.values()) {
      if (session.lastSeen < cutoff) idle.push(session);
    }
    for (const session of idle) this.sessions.delete(session.id);
    return idle;
  }

  /** Removes and returns every session (shutdown). */
  takeAll(): HttpSession<T>[] {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    return all;
  }
}
