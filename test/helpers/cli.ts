/**
 * Runs the built CLI as a real user would, the published binary (dist/bin/keyward.js, the bundle of
 * dist/src that test/helpers/bundle-setup.ts makes before the suite), and connects SDK clients to it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
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

/** A server on raw pipes: the test writes bytes and reads lines itself (what an SDK client would never send). */
export interface RawStdio {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every complete line the server wrote to stdout, parsed (a line that is not JSON fails the test). */
  messages(): Record<string, unknown>[];
  stderr(): string;
  send(line: string | Buffer): void;
  /** Waits (up to `ms`) for a message that `match` accepts. */
  waitFor(match: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

export async function rawStdio(configPath: string): Promise<RawStdio> {
  const child = spawn(process.execPath, [mainJs, 'serve', '--config', configPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const messages = (): Record<string, unknown>[] =>
    stdout
      .split('\n')
      .slice(0, -1)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waitFor = async (match: (m: Record<string, unknown>) => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = messages().find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no such message; stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const raw: RawStdio = {
    child,
    messages,
    stderr: () => stderr,
    send: (line) => void child.stdin.write(line),
    waitFor,
    exited,
  };
  raw.send(
    `${JSON.stringify({
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    })}\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n`,
  );
  await waitFor((m) => m.id === 'init');
  return raw;
}

/** One tools/call line. */
export const toolCallLine = (id: unknown, name: string, args: unknown): string =>
  `${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })}\n`;

/** The audit records of a workspace's SQLite trail, oldest first (journaled ones land within 10 ms). */
export async function auditRecords(dbPath: string): Promise<Record<string, unknown>[]> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .prepare('SELECT record FROM audit_events ORDER BY id')
      .all()
      .map((row) => JSON.parse((row as { record: string }).record) as Record<string, unknown>);
  } finally {
    db.close();
  }
}
