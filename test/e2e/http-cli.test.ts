/**
 * The built CLI in remote mode: `keyward tokens create` feeds `keyward serve --http`; a
 * non-loopback bind without authentication is refused; SIGTERM drains an in-flight call, flushes
 * the audit and exits 0.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { mainJs, makeWorkspace, runCli } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_test_cli_http_0a9b8c7d6e5f4a3b2c1d';
let upstream: Upstream;
let configPath: string;

function serve(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  url: Promise<string>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [mainJs, 'serve', '--http', '--config', configPath, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /keyward: listening on (\S+)/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  url.catch(() => undefined);
  return { child, url, stderr: () => stderr };
}

function exitCode(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath } = await makeWorkspace((d) => coreConfig(d, upstream.origin), { api: KEY }));
});
afterAll(() => upstream?.close());

describe('keyward serve --http', () => {
  it('refuses a non-loopback bind without authentication configured', async () => {
    const result = await runCli([
      'serve',
      '--http',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--config',
      configPath,
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/without authentication/);
  });

  it('warns at start when it serves on loopback without authentication (issue 12 §5)', async () => {
    const server = serve(['--port', '0']);
    await server.url;
    server.child.kill('SIGTERM');
    await exitCode(server.child);
    expect(server.stderr()).toMatch(/without authentication: any local process/);
  });

  it('serves a token from `tokens create`, then drains and exits 0 on SIGTERM', async () => {
    const created = await runCli(['tokens', 'create', '--agent', 'local', '--id', 'cli', '--json']);
    expect(created.code).toBe(0);
    const { token, entry } = JSON.parse(created.stdout) as { token: string; entry: { sha256: string } };
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    config.identity = { tokens: [entry] };
    config.tools = {
      ...(config.tools as Record<string, unknown>),
      slowish: {
        description: 'slow',
        permission: 'api:read',
        credential: 'api',
        request: { method: 'GET', url: `${upstream.origin}/slow?ms=1500` },
      },
    };
    writeFileSync(configPath, JSON.stringify(config));

    const server = serve(['--port', '0']);
    const url = await server.url;
    const client = new Client({ name: 'cli-e2e', version: '0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    const ok = (await client.callTool({
      name: 'get_repo',
      arguments: { owner: 'a', repo: 'b' },
    })) as CallToolResult;
    expect(ok.isError).toBeFalsy();

    const inFlight = client.callTool({ name: 'slowish', arguments: {} }) as Promise<CallToolResult>;
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill('SIGTERM');
    const result = await inFlight;
    expect(result.isError).toBeFalsy();
    expect(await exitCode(server.child)).toBe(0);
    // New connections are refused once it stopped.
    await expect(fetch(url, { method: 'POST' })).rejects.toThrow();

    const audit = await runCli(['audit', 'verify', '--config', configPath]);
    expect(audit.code, audit.stderr + audit.stdout).toBe(0);
    const tail = await runCli(['audit', 'tail', '--json', '-n', '50', '--config', configPath]);
    const started = (tail.stdout.match(/call\.started/g) ?? []).length;
    const completed = (tail.stdout.match(/call\.completed/g) ?? []).length;
    expect(started).toBeGreaterThanOrEqual(2);
    expect(completed).toBe(started);
  });
});
