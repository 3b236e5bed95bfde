/**
 * keyward's tools as LangChain tools, through `@langchain/mcp-adapters`, over stdio or Streamable
 * HTTP. The agent gets these tools and nothing else: no key, no config.
 *
 * One shim: `@langchain/mcp-adapters` (1.1.x) turns a result with `isError: true` into a
 * `ToolException` that carries only the text content, so `structuredContent.error` (`code`,
 * `retryable`, `retryAfterSeconds`, `approvalId`, `nextStep`) would never reach the agent (the same
 * holds in Python: langchain-ai/langchain-mcp-adapters#619). `StructuredErrorClient` keeps it: the
 * exception's message is keyward's text followed by one line `structuredContent: {json}`, which
 * LangGraph's ToolNode puts in a ToolMessage with `status: "error"`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadMcpTools } from '@langchain/mcp-adapters';
import type { DynamicStructuredTool } from '@langchain/core/tools';
import type { KeywardEndpoint } from './world.js';

/** The line prefix under which an error's structuredContent travels in the ToolMessage. */
export const STRUCTURED_PREFIX = 'structuredContent: ';

/** A tool error the adapter passes through unchanged (it matches on the name). */
class ToolException extends Error {
  override name = 'ToolException';
}

/** An MCP client whose error results keep their structuredContent on the way to the agent. */
export class StructuredErrorClient extends Client {
  override async callTool(...args: Parameters<Client['callTool']>): ReturnType<Client['callTool']> {
    const result = await super.callTool(...args);
    if (result.isError !== true || result.structuredContent === undefined) return result;
    const text = (result.content as { type: string; text?: string }[])
      .filter((c) => c.type === 'text')
      .map((c) => c.text)
      .join('\n');
    throw new ToolException(`${text}\n${STRUCTURED_PREFIX}${JSON.stringify(result.structuredContent)}`);
  }
}

export interface KeywardTools {
  tools: DynamicStructuredTool[];
  client: Client;
  /** keyward's stderr (stdio: the process this client spawned). */
  stderr(): string;
  close(): Promise<void>;
}

/** Connects to keyward and loads its tools (the meta-tools included) for LangGraph. */
export async function keywardTools(endpoint: KeywardEndpoint): Promise<KeywardTools> {
  // No elicitation capability: approvals come from an operator (`keyward grants approve`).
  const client = new StructuredErrorClient(
    { name: 'langgraph-example', version: '1.0.0' },
    { capabilities: {} },
  );
  let stderr = '';
  if (endpoint.transport === 'stdio') {
    const transport = new StdioClientTransport({
      command: endpoint.command,
      args: endpoint.args,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await client.connect(transport);
  } else {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(endpoint.url), {
        requestInit: { headers: { Authorization: `Bearer ${endpoint.token}` } },
      }),
    );
  }
  const tools = await loadMcpTools('keyward', client, { throwOnLoadError: true });
  return { tools, client, stderr: () => stderr, close: () => client.close() };
}
