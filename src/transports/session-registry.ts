/**
 * Sessions of the HTTP transports, each bound to the subject that created it. A session id is
 * never authentication: every request is authenticated, then its subject must equal the owner's.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Clock } from '../core/clock.js';

export interface HttpSession<T> {
  readonly id: string;
  readonly transport: T;
  readonly server: Server;
  /** The `Authenticated.subject` that created the session. */
  readonly subject: string;
  lastSeen: number;
}

export class SessionRegistry<T> {
  private readonly sessions = new Map<string, HttpSession<T>>();

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.sessions.size;
  }

  add(session: HttpSession<T>): void {
    this.sessions.set(session.id, session);
  }

  delete(id: string): boolean {
    return this.sessions.delete(id);
  }

  /** The session, or a reason why the caller may not use it. */
  lookup(id: string, subject: string): HttpSession<T> | 'unknown' | 'mismatch' {
    const session = this.sessions.get(id);
    if (session === undefined) return 'unknown';
    if (session.subject !== subject) return 'mismatch';
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
