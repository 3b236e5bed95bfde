/**
 * Legacy HTTP+SSE (protocol 2024-11-05): GET /sse opens the stream (first event names the POST
 * endpoint), POST /messages?sessionId= carries JSON-RPC (400 missing id, 404 unknown, 403 another
 * principal's). The session lives on one process: load balancers need sticky routing for it.
 * Every answer of a session travels on its one stream: a client that stops reading it while it
 * keeps POSTing loses the session once MAX_UNSENT_BYTES wait unsent (the SDK's transport writes
 * without looking, so they piled up in the server's memory), or once nothing moved for stallMs.
 */
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Authenticated } from '../identity/authenticated.js';
import type { Logger } from '../observability/logger.js';
import type { Gateway } from '../server/gateway.js';
import { createSessionServer } from '../server/session-server.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import type { McpRequest } from './streamable-http.js';
import { SessionRegistry, type HttpSession, type SessionAdmission } from './session-registry.js';
import type { InFlightLimiter } from '../policy/in-flight-limiter.js';
import { admitted, batchFits } from './admission.js';
import type { Principal } from '../core/types.js';
import { stallTimeoutMs, type UnsentAnswers } from './unsent-answers.js';

/** Bytes a session's stream may hold unsent (its client does not read) before the session ends. */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024;

/** The SDK's transport, refusing to queue more for a stream whose client stopped reading. */
class BoundedSseTransport extends SSEServerTransport {
  constructor(
    endpoint: string,
    private readonly stream: ServerResponse,
  ) {
    super(endpoint, stream);
  }

  override async send(message: JSONRPCMessage): Promise<void> {
    // writableLength counts what the response and its socket still hold (the kernel's buffer is
    // full by then). Ending the stream ends the session: its 'close' removes it.
    if (this.stream.writableLength > MAX_UNSENT_BYTES) {
      this.stream.destroy();
      throw new Error('the client stopped reading its SSE stream: session ended');
    }
    return super.send(message);
  }
}

export interface SseOptions {
  readonly gateway: Gateway;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Path clients POST to, as announced in the `endpoint` event. */
  readonly messagesPath: string;
  readonly admit: (auth: Authenticated) => SessionAdmission;
  readonly inFlightLimiter?: InFlightLimiter;
  readonly onCountChange?: (count: number) => void;
  readonly onMismatch?: () => void;
  /** Interval of SSE comment pings that keep proxies from closing an idle stream. */
  readonly keepAliveMs?: number;
  /**
   * A stream whose socket moved no byte for this long (its client stopped reading: even the pings
   * stay queued) ends its session (default 60 s, and at least four pings).
   */
  readonly stallMs?: number;
  /** Bytes each principal's responses hold unsent (its clients do not read), capped. */
  readonly unsentAnswers?: UnsentAnswers;
}

export class SseSessions {
  private readonly sessions: SessionRegistry<BoundedSseTransport>;

  constructor(private readonly options: SseOptions) {
    this.sessions = new SessionRegistry(options.clock);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions of this principal (agent and tenant). */
  countFor(principal: Pick<Principal, 'agent' | 'tenant'>): number {
    return this.sessions.countFor(principal);
  }

  /** GET /sse: opens a session for the authenticated principal; the response stays open. */
  async open(res: ServerResponse, auth: Authenticated): Promise<void> {
    if (!admitted(this.options.admit(auth), res)) return;
    const unsent = this.options.unsentAnswers;
    if (unsent !== undefined && !unsent.admit(auth.principal, res)) return;
    const transport = new BoundedSseTransport(this.options.messagesPath, res);
    const holder: { session?: HttpSession<BoundedSseTransport> } = {};
    const server = createSessionServer(
      this.options.gateway,
      () => holder.session?.principal ?? auth.principal,
      {
        sessionId: transport.sessionId,
        ...(this.options.inFlightLimiter === undefined
          ? {}
          : { inFlightLimiter: this.options.inFlightLimiter }),
      },
    );
    const session: HttpSession<BoundedSseTransport> = {
      id: transport.sessionId,
      transport,
      server,
      subject: auth.subject,
      principal: auth.principal,
      lastSeen: this.options.clock.now(),
    };
    holder.session = session;
    this.sessions.add(session);
    this.options.onCountChange?.(this.sessions.size);
    const keepAliveMs = this.options.keepAliveMs ?? 15_000;
    const ping = setInterval(() => {
      if (!res.writableEnded) res.write(': ping\n\n');
    }, keepAliveMs);
    ping.unref();
    // The socket's inactivity timer: each byte written or read restarts it, so a client that reads
    // is never cut; with no listener Node destroys the socket, and its 'close' ends the session.
    res.setTimeout(stallTimeoutMs(keepAliveMs, this.options.stallMs));
    res.on('close', () => {
      clearInterval(ping);
      if (this.sessions.delete(session.id)) this.options.onCountChange?.(this.sessions.size);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
  }

  /** POST /messages?sessionId=…: hands one JSON-RPC message (`req.body`, parsed) to its session. */
  async post(req: McpRequest, res: ServerResponse, auth: Authenticated): Promise<void> {
    const sessionId = sessionIdOf(req.url);
    if (sessionId === undefined) {
      sendJsonRpcError(res, 400, 'Missing sessionId query parameter');
      return;
    }
    const found = this.sessions.lookup(sessionId, auth);
    if (found === 'unknown') {
      sendJsonRpcError(res, 404, 'Unknown sessionId');
      return;
    }
    if (found === 'mismatch') {
      this.options.onMismatch?.();
      this.options.logger.warn(
        { agent: auth.principal.agent },
        'sse session used by a principal that did not create it',
      );
      sendJsonRpcError(res, 403, 'Forbidden: this session belongs to another principal');
      return;
    }
    if (found === 'changed') {
      this.options.logger.warn(
        { agent: auth.principal.agent },
        'sse session ended: its principal now has another agent or tenant',
      );
      const ended = this.sessions.take(sessionId);
      if (ended !== undefined) {
        await ended.server.close().catch(() => undefined);
        await ended.transport.close().catch(() => undefined);
      }
      this.options.onCountChange?.(this.sessions.size);
      sendJsonRpcError(res, 403, 'Forbidden: the principal of this session changed; start a new session');
      return;
    }
    if (!(await batchFits(req.body, found.principal, this.options.inFlightLimiter, res))) return;
    const unsent = this.options.unsentAnswers;
    if (unsent !== undefined && !unsent.admit(found.principal, res)) return;
    await found.transport.handlePostMessage(req, res, req.body);
  }

  async closeAll(): Promise<void> {
    const all = this.sessions.takeAll();
    await Promise.all(
      all.map(async (session) => {
        await session.server.close().catch(() => undefined);
        await session.transport.close().catch(() => undefined);
      }),
    );
    this.options.onCountChange?.(0);
  }
}

/** The one `sessionId` query parameter of a request URL (none, empty or repeated: undefined). */
function sessionIdOf(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return undefined;
  const values = new URLSearchParams(url.slice(q + 1)).getAll('sessionId');
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}
