/**
 * One MCP server instance per session (stdio process, HTTP session). Uses the SDK's low-level
 * Server so that an unknown tool is a JSON-RPC protocol error (as the spec says) and the
 * tools/list answer is precomputed per principal instead of rebuilt per call.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Protocol, type RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { z } from 'zod';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ElicitResultSchema,
  type ElicitResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../core/types.js';
import type { Elicitor } from '../policy/authorizer.js';
import type { Gateway } from './gateway.js';
import type { InFlightLimiter } from '../policy/in-flight-limiter.js';
import { toolCallParams, ToolCallRequestSchema } from './tool-call-params.js';
import { ToolCallLane, type ToolCallAnswer, type ToolCallExchange } from './tool-call-lane.js';

type RequestExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface SessionOptions {
  readonly sessionId?: string;
  /** How long a human has to answer an approval request. */
  readonly elicitationTimeoutMs?: number;
  /** Remote mode: calls of one principal running at once, across its sessions. */
  readonly inFlightLimiter?: InFlightLimiter;
}

/**
 * `principal`: fixed (stdio), or read when each request starts (HTTP sessions follow the principal
 * of their latest request: transports/session-registry.ts).
 */
export function createSessionServer(
  gateway: Gateway,
  principal: Principal | (() => Principal),
  options: SessionOptions = {},
): SessionServer {
  const current = typeof principal === 'function' ? principal : () => principal;
  const initial = current();
  const server: SessionServer = new SessionServer(
    (request, exchange) => answer(request, exchange),
    { name: 'keyward', version: '0.1.0' },
    {
      capabilities: { tools: { listChanged: true }, logging: {} },
      instructions:
        'Tools call external APIs with credentials you never see. Failures come back as structured errors ' +
        '(structuredContent.error: code, retryable, retryAfterSeconds, nextStep). ' +
        'Use list_capabilities and request_capability when a permission is missing.',
    },
  );
  const sessionId = options.sessionId;

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: gateway.listTools(current()) }));

  const answer = async (
    request: { params?: unknown },
    exchange: ToolCallExchange,
  ): Promise<CallToolResult> => {
    const params = toolCallParams(request.params);
    const name = params.name;
    const elicitor = elicitorFor(server, exchange, options.elicitationTimeoutMs ?? 300_000);
    if (!gateway.hasTool(name)) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name.slice(0, 128)}`);
    }
    return gateway.callTool(name, params.arguments, {
      principal: current(),
      sessionId: sessionId ?? exchange.sessionId,
      signal: exchange.signal,
      elicitor,
      traceParent: params.traceParent,
      ...(options.inFlightLimiter === undefined ? {} : { inFlightLimiter: options.inFlightLimiter }),
    });
  };

  // Plain tools/call requests are answered by the lane (tool-call-lane.ts); the SDK keeps the
  // others (task-augmented, with a progress token). Registered on the Protocol base: the Server
  // subclass would first re-validate the params with zod and answer a malformed call with a
  // validator dump (tool-call-params.ts). Results are built by tool-result.ts, so the subclass's
  // result check has nothing to add.
  const register = Protocol.prototype.setRequestHandler as (
    this: Server,
    schema: typeof ToolCallRequestSchema,
    handler: (request: z.infer<typeof ToolCallRequestSchema>, extra: RequestExtra) => Promise<CallToolResult>,
  ) => void;
  register.call(server, ToolCallRequestSchema, (request, extra) => answer(request, extra));

  const unsubscribe = gateway.onToolListChanged(initial, () => {
    server.sendToolListChanged().catch(() => undefined);
  });
  server.onclose = unsubscribe;
  server.onerror = (error) =>
    gateway.parts.logger.warn({ err: describeSessionError(error) }, 'mcp session error');
  return server;
}

/**
 * A session error (a refused line, a failed send, the SDK's protocol complaints) as a log field:
 * type and message, cut before the first JSON in it. Some SDK messages quote what the client sent
 * (a response to an unknown id is stringified whole), and a client's line is neither small nor
 * free of the secrets an agent may paste.
 */
export function describeSessionError(error: Error): string {
  const message = error.message.split(/[{[]/, 1)[0]!.trimEnd().slice(0, 200);
  return `${error.name}: ${message}${message.length < error.message.length ? ' …' : ''}`;
}

/** The SDK's Server, connected through the tools/call lane (tool-call-lane.ts). */
export class SessionServer extends Server {
  constructor(
    private readonly answerToolCall: ToolCallAnswer,
    ...serverArgs: ConstructorParameters<typeof Server>
  ) {
    super(...serverArgs);
  }

  override connect(transport: Transport): Promise<void> {
    return super.connect(new ToolCallLane(transport, this.answerToolCall));
  }
}

/**
 * What this client can ask its user, from its declared capabilities (spec 2025-11-25): form mode
 * when it declared `elicitation` with `form` or, as older clients do, with no mode at all; URL mode
 * only when it declared `url`.
 */
function elicitorFor(server: Server, exchange: ToolCallExchange, timeout: number): Elicitor | undefined {
  const declared = server.getClientCapabilities()?.elicitation as
    { form?: unknown; url?: unknown } | undefined;
  if (declared === undefined) return undefined;
  const form = declared.form !== undefined || declared.url === undefined;
  const url = declared.url !== undefined;
  // As the SDK's `extra.sendRequest`: a cancelled call asks nothing more, and the request is
  // related to the call (on Streamable HTTP it travels on that call's stream).
  const ask = (request: ServerRequest): Promise<ElicitResult> => {
    if (exchange.signal.aborted) throw new McpError(ErrorCode.ConnectionClosed, 'Request was cancelled');
    return server.request(request, ElicitResultSchema, { timeout, relatedRequestId: exchange.requestId });
  };
  return {
    ...(form
      ? {
          elicit: async (params) => {
            const result = await ask(
              // keyward builds the requested schema itself (policy/), a flat form the spec allows
              { method: 'elicitation/create', params: { mode: 'form', ...params } } as ServerRequest,
            );
            return {
              action: result.action,
              ...(result.content === undefined ? {} : { content: result.content as Record<string, unknown> }),
            };
          },
        }
      : {}),
    ...(url
      ? {
          openUrl: async (params) => {
            const result = await ask({
              method: 'elicitation/create',
              params: { mode: 'url', ...params },
            } as ServerRequest);
            return result.action;
          },
          completeUrl: (elicitationId) =>
            server.createElicitationCompletionNotifier(elicitationId, {
              relatedRequestId: exchange.requestId,
            })(),
        }
      : {}),
  } satisfies Elicitor;
}
