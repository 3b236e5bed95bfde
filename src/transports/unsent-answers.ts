/**
 * Answers waiting in this process for a principal's clients to read them (fair sharing, issue 14;
 * security review of 2026-12-05). A response's bytes leave the server's memory only as its client
 * reads them, and a call's in-flight slot is freed when its answer is queued, not when it is read:
 * an agent that opened connection after connection, sent calls on each and read nothing made the
 * server hold every answer, up to `maxConnections` connections' worth (a stalled connection is
 * closed after stallMs, but new ones kept coming). Each response of the HTTP transports counts
 * for its principal until it has been handed to the kernel or closed; past the cap, the
 * principal's next request is answered 429 until its clients read (or their connections go).
 */
import type { ServerResponse } from 'node:http';
import type { Principal } from '../core/types.js';
import { principalKey } from '../policy/in-flight-limiter.js';
import { sendJsonRpcError } from './json-rpc-error.js';

/**
 * How long a stream's socket may move no byte before it is closed (its client stopped reading:
 * even the keep-alives stay queued): `configured`, else 60 s and at least four keep-alives after
 * `slackMs`. A client that reads is never cut, since every keep-alive restarts the timer.
 */
export function stallTimeoutMs(keepAliveMs: number, configured?: number, slackMs = 0): number {
  return configured ?? Math.max(60_000, slackMs + 4 * keepAliveMs);
}

/** Bytes one principal's responses may hold unsent before its requests are refused. */
export const MAX_UNSENT_PER_PRINCIPAL = 64 * 1024 * 1024;

export class UnsentAnswers {
  private readonly byPrincipal = new Map<string, Set<ServerResponse>>();

  constructor(readonly max: number = MAX_UNSENT_PER_PRINCIPAL) {}

  /** Bytes this principal's responses still hold in this process (not yet handed to the kernel). */
  held(key: string): number {
    const open = this.byPrincipal.get(key);
    if (open === undefined) return 0;
    let bytes = 0;
    for (const res of open) bytes += res.writableLength;
    return bytes;
  }

  /**
   * Counts `res` for this principal until it is flushed or closed; when the principal already
   * holds more than the cap, answers 429 instead and returns false.
   */
  admit(principal: Principal, res: ServerResponse): boolean {
    const key = principalKey(principal);
    if (this.held(key) > this.max) {
      res.setHeader('Retry-After', '30');
      sendJsonRpcError(
        res,
        429,
        'Too many answers wait for this principal’s clients to read them; read them or retry later',
      );
      return false;
    }
    let open = this.byPrincipal.get(key);
    if (open === undefined) {
      open = new Set();
      this.byPrincipal.set(key, open);
    }
    open.add(res);
    const done = (): void => {
      const set = this.byPrincipal.get(key);
      if (set === undefined || !set.delete(res)) return;
      if (set.size === 0) this.byPrincipal.delete(key);
    };
    // A response emits 'close' once it completed or its connection went (after 'finish', if any).
    res.once('close', done);
    return true;
  }
}
