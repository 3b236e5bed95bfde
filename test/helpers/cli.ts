/**
 * Runs the built CLI as a real user would, the published binary (dist/bin/keyward.js, the bundle of
 * dist/src that test/helpers/bundle-setup.ts makes before the suite), and connects SDK clients to it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const mainJs = path.join(repoRoot, 'dist/bin/keyward.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export function tempDir(prefix = 'keyward-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A workspace with a fresh key, an encrypted store and a config built by the caller. */
export async function makeWorkspace(
  config: (dir: string) => Record<string, unknown>,
  secrets: Record<string, string> = {},
): Promise<{ dir: string; configPath: string }> {
  const dir = tempDir();
  const init = await runCli(['init', '--dir', dir]);
  if (init.code !== 0) throw new Error(`keyward init failed: ${init.stderr}`);
  const configPath = path.join(dir, 'tools.config.json');
  writeFileSync(configPath, JSON.stringify(config(dir), null, 2));
  for (const [name, value] of Object.entries(secrets)) {
    const set = await runCli(['secrets', 'set', name, '--config', configPath], { input: value });
    if (set.code !== 0) throw new Error(`keyward secrets set failed: ${set.stderr}`);
  }
  return { dir, configPath };
}

export interface StdioSession {
  client: Client;
  /** The server process id. */
  pid: number | null;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

export async function connectStdio(
  configPath: string,
  options: { args?: string[]; env?: Record<string, string>; capabilities?: Record<string, unknown> } = {},
): Promise<StdioSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [mainJs, 'serve', '--config', configPath, ...(options.args ?? [])],
    env: { ...(process.env as Record<string, string>), ...options.env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client(
    { name: 'keyward-test', version: '0.0.0' },
    { capabilities: options.capabilities ?? {} },
  );
  await client.connect(transport);
  return { client, pid: transport.pid, stderr: () => stderr, close: () => client.close() };
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2));
}
