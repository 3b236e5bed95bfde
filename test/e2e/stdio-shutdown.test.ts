/** SIGTERM, SIGINT and stdin EOF: in-flight calls finish, the audit is flushed, exit code 0. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import {
  auditRecords,
  connectStdio,
  mainJs,
  makeWorkspace,
  rawStdio,
  runCli,
  toolCallLine,
} from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_shutdown_test_key_0123456789abcdef';
let upstream: Upstream;
let configPath: string;
let dir: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath, dir } = await makeWorkspace(
    (dir) => {
      const config = coreConfig(dir, upstream.origin) as { tools: Record<string, unknown> };
      config.tools.slow_ok = {
        description: 'answers after 1.5 s',
        permission: 'api:read',
        credential: 'api',
        request: { method: 'GET', url: `${upstream.origin}/slow`, query: { ms: '1500' } },
        timeouts: { totalMs: 10_000 },
      };
      return config;
    },
    { api: KEY },
  ));
});

afterAll(async () => {
  await upstream?.close();
});

function waitForExit(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(timer);
        resolve();
      }
    }, 50);
  });
}

describe('graceful shutdown over stdio', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} lets an in-flight call finish and records its completion`, async () => {
      const session = await connectStdio(configPath);
      const pid = session.pid;
      expect(pid).toBeTypeOf('number');
      const call = session.client.callTool({ name: 'slow_ok', arguments: {} });
      await new Promise((r) => setTimeout(r, 400));
      process.kill(pid as number, signal);
      const result = (await call) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect((result.structuredContent as { body: unknown }).body).toEqual({ late: true });
      await waitForExit(pid as number);
      await session.close();
      const tail = await runCli(['audit', 'tail', '-n', '3', '--json', '--config', configPath]);
      const last = tail.stdout.trim().split('\n').at(-1) ?? '';
      expect(last).toContain('call.completed');
      expect(last).toContain('slow_ok');
      const verify = await runCli(['audit', 'verify', '--config', configPath]);
      expect(verify.code).toBe(0);
    });
  }

  it('exits 0 when stdin closes', async () => {
    const child = spawn(process.execPath, [mainJs, 'serve', '--config', configPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.end();
    expect(await exited).toBe(0);
    // Nothing but MCP messages may reach stdout; here, nothing at all.
    expect(stdout).toBe('');
  });

  it('a client that closes stdout mid-call: the call finishes and is recorded, exit 0 (security review)', async () => {
    const server = await rawStdio(configPath);
    // The client stops listening; the server learns it at its next write (EPIPE).
    server.child.stdout.destroy();
    server.send(toolCallLine(1, 'slow_ok', {}));
    await new Promise((r) => setTimeout(r, 300));
    server.send(toolCallLine(2, 'get_repo', { owner: 'a', repo: 'b' })); // answered at once: EPIPE
    expect(await server.exited).toBe(0);
    expect(server.stderr()).not.toContain('keyward crashed');
    expect(server.stderr()).toContain('"reason":"stdout closed"');
    const records = await auditRecords(`${dir}/audit.db`);
    const started = records.filter((r) => r.type === 'call.started' && r.tool === 'slow_ok').at(-1);
    const completed = records.find((r) => r.type === 'call.completed' && r.requestId === started?.requestId);
    expect(completed?.outcome).toBe('ok');
  });
});
