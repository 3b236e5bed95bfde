/**
 * Streamable HTTP at /mcp: stateful sessions with SSE responses (so elicitation works), one MCP
 * server per session bound to the principal that created it, an idle reaper and a session cap.
 * POST carries JSON-RPC, GET opens the standalone stream, DELETE ends the session. Each session's
 * transport is keyward's own node:http one (node-streamable-transport.ts). With an event store its
 * streams are resumable; with a shared (Redis) store a resume GET for a session another replica
 * holds is served here from the store when its principal owns the session (event-store/).
 */
import { createHash, randomUUID } from 'node:crypto';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Authenticated } from '../identity/authenticated.js';
import type { Logger } from '../observability/logger.js';
import type { Gateway } from '../server/gateway.js';
import { createSessionServer } from '../server/session-server.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import { NodeStreamableHttpTransport } from './node-streamable-transport.js';
import { SessionRegistry, type HttpSession, type SessionAdmission } from './session-registry.js';
import type { InFlightLimiter } from '../policy/in-flight-limiter.js';
import { admitted, batchFits } from './admission.js';
import type { Principal } from '../core/types.js';
import type { EventStore } from './event-store/event-store.js';
import type { RemoteResumes } from './event-store/remote-resume.js';
import type { UnsentAnswers } from './unsent-answers.js';

export interface StreamableHttpOptions {
  readonly gateway: Gateway;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Whether another session may open for this caller (the caps are shared with legacy SSE). */
  readonly admit: (auth: Authenticated) => SessionAdmission;
  /** Calls of one principal running at once, across sessions and batches. */
  readonly inFlightLimiter?: InFlightLimiter;
  /** Told when the number of sessions changes. */
  readonly onCountChange?: (count: number) => void;
  /** Session id reused by another subject (metrics). */
  readonly onMismatch?: () => void;
  /** Makes streams resumable (Last-Event-ID). */
  readonly eventStore?: EventStore;
  /** The `retry:` of priming events (ms). */
  readonly retryMs?: number;
  /** A primed POST stream still waiting after this long is closed for its client to poll (ms). */
  readonly closeAfterMs?: number;
  /** Serves resumes of sessions held by another replica (a shared event store). */
  readonly remoteResumes?: RemoteResumes;
  /** Bytes each principal's responses hold unsent (its clients do not read), capped. */
  readonly unsentAnswers?: UnsentAnswers;
}

/** A request whose JSON body (if any) was already read and parsed. */
export type McpRequest = IncomingMessage & { body?: unknown };

export class StreamableHttpSessions {
  private readonly sessions: SessionRegistry<NodeStreamableHttpTransport>;

  constructor(private readonly options: StreamableHttpOptions) {
    this.sessions = new SessionRegistry(options.clock);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions of this principal (agent and tenant). */
  countFor(principal: Pick<Principal, 'agent' | 'tenant'>): number {
    return this.sessions.countFor(principal);
  }

  /** Serves one authenticated POST, GET or DELETE on /mcp (`req.body`: the parsed JSON of a POST). */
  async handle(req: McpRequest, res: ServerResponse, auth: Authenticated): Promise<void> {
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId === undefined) {
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
        sendJsonRpcError(res, 400, 'Bad Request: Mcp-Session-Id header is required');
        return;
      }
      await this.initialize(req, res, auth);
      return;
    }
    const found = this.sessions.lookup(sessionId, auth);
    if (found === 'unknown') {
      const lastEventId = req.headers['last-event-id'];
      const remote = this.options.remoteResumes;
      if (
        remote !== undefined &&
        req.method === 'GET' &&
        typeof lastEventId === 'string' &&
        lastEventId !== '' &&
        req.headers.accept?.includes('text/event-stream') === true
      ) {
        await this.resumeElsewhere(remote, req, res, sessionId, lastEventId, auth);
        return;
      }
      sendJsonRpcError(res, 404, 'Session not found');
      return;
    }
    if (found === 'mismatch') {
      this.options.onMismatch?.();
      this.options.logger.warn(
        { agent: auth.principal.agent },
        'session used by a principal that did not create it',
      );
      sendJsonRpcError(res, 403, 'Forbidden: this session belongs to another principal');
      return;
    }
    if (found === 'changed') {
      this.options.logger.warn(
        { agent: auth.principal.agent },
        'session ended: its principal now has another agent or tenant',
      );
      const ended = this.sessions.take(sessionId);
      if (ended !== undefined) await closeSession(ended);
      this.options.onCountChange?.(this.sessions.size);
      sendJsonRpcError(res, 403, 'Forbidden: the principal of this session changed; start a new session');
      return;
    }
    if (!(await batchFits(req.body, found.principal, this.options.inFlightLimiter, res))) return;
    const unsent = this.options.unsentAnswers;
    if (unsent !== undefined && !unsent.admit(found.principal, res)) return;
    await found.transport.handleRequest(req, res, req.body);
  }

  private async resumeElsewhere(
    remote: RemoteResumes,
    _req: McpRequest,
    res: ServerResponse,
    sessionId: string,
    lastEventId: string,
    auth: Authenticated,
  ): Promise<void> {
    let outcome;
    try {
      outcome = await remote.serve(res, sessionId, lastEventId, auth);
    } catch (error) {
      this.options.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'resume from the shared event store failed',
      );
      if (!res.headersSent) sendJsonRpcError(res, 503, 'Service Unavailable: the event store did not answer');
      else res.end();
      return;
    }
    switch (outcome) {
      case 'served':
        this.options.logger.debug(
          { agent: auth.principal.agent },
          'stream resumed from the shared event store',
        );
        return;
      case 'unknown':
        sendJsonRpcError(res, 404, 'Session not found');
        return;
      case 'invalid':
        sendJsonRpcError(res, 400, 'Invalid event ID format');
        return;
      case 'busy':
        sendJsonRpcError(res, 429, 'Too many resumed streams');
        return;
      case 'mismatch':
        this.options.onMismatch?.();
        this.options.logger.warn(
          { agent: auth.principal.agent },
          'stream resume refused: the session belongs to another principal',
        );
        sendJsonRpcError(res, 403, 'Forbidden: this session belongs to another principal');
        return;
    }
  }

  private async initialize(req: McpRequest, res: ServerResponse, auth: Authenticated): Promise<void> {
    if (!admitted(this.options.admit(auth), res)) return;
    let session: HttpSession<NodeStreamableHttpTransport> | undefined;
    const server = createSessionServer(this.options.gateway, () => session?.principal ?? auth.principal, {
      ...(this.options.inFlightLimiter === undefined
        ? {}
        : { inFlightLimiter: this.options.inFlightLimiter }),
    });
    const store = this.options.eventStore;
    const transport: NodeStreamableHttpTransport = new NodeStreamableHttpTransport({
      sessionIdGenerator: () => randomUUID(),
      ...(store === undefined
        ? {}
        : {
            events: (id: string) =>
              store.openSession(id, {
                subjectHash: createHash('sha256').update(auth.subject).digest('hex'),
                agent: auth.principal.agent,
                tenant: auth.principal.tenant,
              }),
          }),
      ...(this.options.retryMs === undefined ? {} : { retryMs: this.options.retryMs }),
      ...(this.options.closeAfterMs === undefined ? {} : { closeAfterMs: this.options.closeAfterMs }),
      onsessioninitialized: (id) => {
        session = {
          id,
          transport,
          server,
          subject: auth.subject,
          principal: auth.principal,
          lastSeen: this.options.clock.now(),
        };
        this.sessions.add(session);
        this.options.onCountChange?.(this.sessions.size);
        this.options.logger.debug({ agent: auth.principal.agent }, 'streamable http session opened');
      },
    });
    transport.onclose = () => {
      if (session !== undefined && this.sessions.delete(session.id)) {
        this.options.onCountChange?.(this.sessions.size);
      }
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
    if (session === undefined) await server.close().catch(() => undefined);
  }

  /** Closes sessions idle for longer than idleMs; returns how many. */
  async reapIdle(idleMs: number): Promise<number> {
    const idle = this.sessions.takeIdle(idleMs);
    for (const session of idle) await closeSession(session);
    if (idle.length > 0) this.options.onCountChange?.(this.sessions.size);
    return idle.length;
  }

  async closeAll(): Promise<void> {
    const all = this.sessions.takeAll();
    await Promise.all(all.map(closeSession));
    this.options.onCountChange?.(0);
  }
}

async function closeSession(session: HttpSession<NodeStreamableHttpTransport>): Promise<void> {
  await session.server.close().catch(() => undefined);
  await session.transport.close().catch(() => undefined);
}
