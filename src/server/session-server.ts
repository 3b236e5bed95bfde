/**
 * One MCP server instance per session (stdio process, HTTP session). Uses the SDK's low-level
 * Server so that an unknown tool is a JSON-RPC protocol error (as the spec says) and the
 * tools/list answer is precomputed per principal instead of rebuilt per call.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ElicitResultSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../core/types.js';
import type { Elicitor } from '../policy/authorizer.js';
import type { Gateway } from './gateway.js';

export interface SessionOptions {
  readonly sessionId?: string;
  /** How long a human has to answer an approval request. */
  readonly elicitationTimeoutMs?: number;
}

/** Extra tools served beside the configured ones (list_capabilities, request_capability). */
export interface MetaTool {
  readonly definition: Tool;
  call(
    args: Record<string, unknown>,
    context: {
      principal: Principal;
      sessionId: string | undefined;
      elicitor: Elicitor | undefined;
      requestId: string;
    },
  ): Promise<CallToolResult>;
}

export function createSessionServer(
  gateway: Gateway,
  principal: Principal,
  options: SessionOptions = {},
): Server {
  const server = new Server(
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

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: gateway.listTools(principal) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const name = request.params.name;
    const elicitor: Elicitor | undefined = server.getClientCapabilities()?.elicitation
      ? {
          elicit: async (params) => {
            const result = await extra.sendRequest(
              { method: 'elicitation/create', params: { mode: 'form', ...params } },
              ElicitResultSchema,
              { timeout: options.elicitationTimeoutMs ?? 300_000 },
            );
            return {
              action: result.action,
              ...(result.content === undefined ? {} : { content: result.content as Record<string, unknown> }),
            };
          },
        }
      : undefined;
    const effectiveSessionId = sessionId ?? extra.sessionId;
    if (!gateway.hasTool(name)) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name.slice(0, 128)}`);
    }
    return gateway.callTool(name, request.params.arguments, {
      principal,
      sessionId: effectiveSessionId,
      signal: extra.signal,
      elicitor,
    });
  });

  const unsubscribe = gateway.onToolListChanged(principal, () => {
    server.sendToolListChanged().catch(() => undefined);
  });
  server.onclose = unsubscribe;
  return server;
}
