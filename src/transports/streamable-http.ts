/**
 * Streamable HTTP at /mcp: stateful sessions with SSE responses (so elicitation works), one MCP
 * server per session bound to the principal that created it, an idle reaper and a session cap.
 * POST carries JSON-RPC, GET opens the standalone stream, DELETE ends the session. Each session's
 * transport is keyward's own node:http one (node-streamable-transport.ts).
 */
import { randomUUID } from 'node:crypto';
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
import type { InFlightLimiter } from '../server/in-flight-limiter.js';
import { admitted, batchFits } from './admission.js';
import type { Principal } from '../core/types.js';

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
    await found.transport.handleRequest(req, res, req.body);
  }

  private async initialize(req: McpRequest, res: ServerResponse, auth: Authenticated): Promise<void> {
    if (!admitted(this.options.admit(auth), res)) return;
    let session: HttpSession<NodeStreamableHttpTransport> | undefined;
    const server = createSessionServer(this.options.gateway, () => session?.principal ?? auth.principal, {
      ...(this.options.inFlightLimiter === undefined
        ? {}
        : { inFlightLimiter: this.options.inFlightLimiter }),
    });
    const transport: NodeStreamableHttpTransport = new NodeStreamableHttpTransport({
      sessionIdGenerator: () => randomUUID(),
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
