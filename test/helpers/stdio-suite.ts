/**
 * What the backend e2e suites (Vault, AWS over stdio) share: sessions opened as an agent, calls
 * and CLI runs whose outputs are kept for the final canary scan, and the two result assertions.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import { connectStdio, runCli, type CliResult, type StdioSession } from './cli.js';

/** The result is a success; returns it. */
export function ok(result: CallToolResult): CallToolResult {
  expect(result.isError, JSON.stringify(result.structuredContent)).toBeFalsy();
  return result;
}

/** The result is a structured error; returns `structuredContent.error`. */
export function error(result: CallToolResult): Record<string, unknown> {
  expect(result.isError, JSON.stringify(result.structuredContent)).toBe(true);
  return (result.structuredContent as { error: Record<string, unknown> }).error;
}

export interface StdioSuite {
  /** Every result and CLI output, for the canary scan at the end. */
  readonly outputs: string[];
  /** Every session opened, in order. */
  readonly sessions: StdioSession[];
  call(session: StdioSession, name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** `keyward <args> --config <config>`. */
  cli(args: string[], input?: string): Promise<CliResult>;
  /** A stdio session acting as `agent`. */
  open(agent: string): Promise<StdioSession>;
  closeAll(): Promise<void>;
}

export function stdioSuite(configPath: () => string): StdioSuite {
  const outputs: string[] = [];
  const sessions: StdioSession[] = [];
  return {
    outputs,
    sessions,
    async call(session, name, args = {}) {
      const result = (await session.client.callTool({ name, arguments: args })) as CallToolResult;
      outputs.push(JSON.stringify(result));
      return result;
    },
    async cli(args, input) {
      const r = await runCli([...args, '--config', configPath()], input === undefined ? {} : { input });
      outputs.push(r.stdout, r.stderr);
      return r;
    },
    async open(agent) {
      const s = await connectStdio(configPath(), { args: ['--agent', agent] });
      sessions.push(s);
      return s;
    },
    async closeAll() {
      for (const s of sessions) await s.close().catch(() => undefined);
    },
  };
}
