/**
 * Operators' sign-in to the console. An operator proves who they are once with their operator
 * token (config `console.operators[]`, compared as SHA-256 in constant time; an agent's token is a
 * different list and never matches); the console then keeps a server-side session, named by a
 * random id in an HttpOnly, SameSite=Strict cookie, that carries its own CSRF token.
 *
 * Sessions live in this process: behind a load balancer, an operator signs in on each replica they
 * reach (approvals, grants and the audit trail themselves are shared through the stores).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { findTokenHash } from '../identity/token-hash.js';

export interface OperatorEntry {
  readonly name: string;
  readonly sha256: string;
}

export interface OperatorSession {
  readonly id: string;
  readonly operator: string;
  /** Sent back in every form; a state change without it is refused. */
  readonly csrf: string;
  readonly expiresAt: number;
}

/** At most so many signed-in sessions are kept; the oldest go first. */
const MAX_SESSIONS = 1_000;

export const SESSION_COOKIE = 'keyward_console';

export class OperatorSessions {
  private readonly sessions = new Map<string, OperatorSession>();
  /**
   * What the session's last action did, shown once on the next page ("Approved." …). Held here,
   * never read from the URL: a link the agent hands the operator (`…/approvals/a_X?done=approved`)
   * must not make a pending request look answered.
   */
  private readonly notices = new Map<string, string>();
  private readonly hashes: readonly string[];

  constructor(
    private readonly operators: readonly OperatorEntry[],
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {
    this.hashes = operators.map((o) => o.sha256);
  }

  /** The operator a token belongs to, or undefined (agent tokens, unknown tokens, empty input). */
  operatorFor(token: string): string | undefined {
    if (token === '' || token.length > 512) return undefined;
    const index = findTokenHash(token, this.hashes);
    return index === -1 ? undefined : this.operators[index]?.name;
  }

  /** Starts a session for a verified operator. */
  open(operator: string): OperatorSession {
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.close(oldest);
    }
    const session: OperatorSession = {
      id: randomBytes(32).toString('base64url'),
      operator,
      csrf: randomBytes(32).toString('base64url'),
      expiresAt: this.clock.now() + this.ttlSeconds * 1000,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session a cookie names, if any. */
  lookup(id: string | undefined): OperatorSession | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (this.clock.now() >= session.expiresAt) {
      this.close(id);
      return undefined;
    }
    // An operator removed from the config (and the server reloaded) keeps no session.
    if (!this.operators.some((o) => o.name === session.operator)) return undefined;
    return session;
  }

  close(id: string): void {
    this.sessions.delete(id);
    this.notices.delete(id);
  }

  /** Records what the session's action did, for the next page it loads. */
  setNotice(id: string, notice: string): void {
    if (this.sessions.has(id)) this.notices.set(id, notice);
  }

  /** The session's pending notice, once: reading it clears it. */
  takeNotice(id: string): string | undefined {
    const notice = this.notices.get(id);
    this.notices.delete(id);
    return notice;
  }

  get ttl(): number {
    return this.ttlSeconds;
  }
}

/** Constant-time comparison of a form's CSRF token with the session's. */
export function csrfMatches(session: OperatorSession, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of one cookie in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
