/**
 * A resume for a session this replica does not hold (its client reconnected through a load
 * balancer to another replica): served from the shared event store when the request's principal
 * owns the session. The stored events after `Last-Event-ID` on its stream, then the stream's new
 * events as the replica that holds the session stores them (polled), until the stream's last
 * response, the client leaving, or `holdMs` (then the response ends and the client, told by the
 * priming event's `retry`, reconnects with its latest event id).
 *
 * Only the GET resume is served here: a POST or DELETE for the session still needs the replica that
 * holds it (a sticky load balancer), as does a new call in it.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Authenticated } from '../../identity/authenticated.js';
import { formatEventId, ownedBy, parseEventId, type EventStore } from './event-store.js';
import { stallTimeoutMs } from '../unsent-answers.js';

export type RemoteResumeOutcome = 'served' | 'unknown' | 'mismatch' | 'invalid' | 'busy';

export interface RemoteResumeOptions {
  readonly store: EventStore;
  /** How often the store is read for new events. */
  readonly pollMs?: number;
  /** How long one resume response is held open before it ends. */
  readonly holdMs?: number;
  /** A `: keepalive` comment after this long without a write. */
  readonly keepAliveMs?: number;
  /**
   * A response whose socket moved no byte for this long (its client stopped reading) is closed
   * with what it still held (default 60 s, and at least four keep-alives). Without it the response
   * ended after holdMs with its events still queued, and the connection stayed as long as the
   * client liked, no longer counted against the principal's cap.
   */
  readonly stallMs?: number;
  /** Resumes served at once by this replica, and per principal. */
  readonly maxOpen: number;
  readonly maxOpenPerPrincipal: number;
}

export class RemoteResumes {
  private open = 0;
  private readonly perPrincipal = new Map<string, number>();

  constructor(private readonly options: RemoteResumeOptions) {}

  /** Serves the resume, or says why not (the caller answers 404 / 403 / 400 / 429). */
  async serve(
    res: ServerResponse,
    sessionId: string,
    lastEventId: string,
    auth: Authenticated,
  ): Promise<RemoteResumeOutcome> {
    const id = parseEventId(lastEventId);
    if (id === undefined || id.sessionId !== sessionId) return 'invalid';
    const first = await this.options.store.read(sessionId, 0);
    if (first.owner === undefined) return 'unknown';
    const subjectHash = createHash('sha256').update(auth.subject).digest('hex');
    if (!ownedBy(first.owner, subjectHash, auth.principal.agent, auth.principal.tenant)) return 'mismatch';
    const who = `${auth.principal.tenant}\u0000${auth.principal.agent}`;
    const mine = this.perPrincipal.get(who) ?? 0;
    if (this.open >= this.options.maxOpen || mine >= this.options.maxOpenPerPrincipal) return 'busy';
    this.open++;
    this.perPrincipal.set(who, mine + 1);
    try {
      await this.follow(res, sessionId, id.stream, id.seq, first);
    } finally {
      this.open--;
      const left = (this.perPrincipal.get(who) ?? 1) - 1;
      if (left === 0) this.perPrincipal.delete(who);
      else this.perPrincipal.set(who, left);
    }
    return 'served';
  }

  private async follow(
    res: ServerResponse,
    sessionId: string,
    stream: number,
    afterSeq: number,
    first: Awaited<ReturnType<EventStore['read']>>,
  ): Promise<void> {
    const pollMs = this.options.pollMs ?? 250;
    const holdMs = this.options.holdMs ?? 60_000;
    const keepAliveMs = this.options.keepAliveMs ?? 15_000;
    // The socket's inactivity timer: each byte written or read restarts it; with no listener Node
    // destroys the socket.
    res.setTimeout(stallTimeoutMs(keepAliveMs, this.options.stallMs));
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'mcp-session-id': sessionId,
    });
    res.flushHeaders();
    let gone = false;
    let wake: (() => void) | undefined;
    res.once('close', () => {
      gone = true;
      wake?.();
    });
    const until = Date.now() + holdMs;
    let lastWrite = Date.now();
    let delivered = afterSeq;
    let read = first;
    for (;;) {
      if (read.owner === undefined) break;
      for (const e of read.events) {
        if (e.stream !== stream || e.seq <= delivered) continue;
        delivered = e.seq;
        lastWrite = Date.now();
        const text = `event: message\nid: ${formatEventId(sessionId, stream, e.seq)}\ndata: ${e.data}\n\n`;
        if (e.final) {
          res.end(text);
          return;
        }
        res.write(text);
      }
      if (gone || Date.now() >= until) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, pollMs).unref();
      });
      wake = undefined;
      if (gone) break;
      if (Date.now() - lastWrite >= keepAliveMs) {
        res.write(': keepalive\n\n');
        lastWrite = Date.now();
      }
      try {
        read = await this.options.store.read(sessionId, read.cursor);
      } catch {
        break;
      }
    }
    if (!res.writableEnded) res.end();
  }
}
