/**
 * The world around the agent, played by the example's host: a sample projects API on 127.0.0.1
 * behind a bearer key, a keyward workspace (config, encrypted store, audit trail, grant store),
 * keyward itself (over stdio, or `keyward serve --http` with a token), and an operator who uses
 * only keyward's CLI: `keyward grants list/approve`, `keyward secrets set`.
 *
 * Nothing here is the agent. The agent (story.ts) gets an MCP connection and nothing else: no key,
 * no config, no file.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSampleApi, type SampleApi } from '../../src/demo/sample-api.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** keyward as a user runs it: the built CLI (`npm run build`). */
export const keywardMain = path.join(repoRoot, 'dist/bin/keyward.js');

export type Transport = 'stdio' | 'http';

/** The agent's identity in keyward's config (stdio) and in its token (HTTP). */
export const AGENT = 'researcher';

/** Runs the keyward CLI; `input` goes to stdin (how secrets are passed, never argv). */
export function keyward(
  args: readonly string[],
  input = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [keywardMain, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function keywardOk(args: readonly string[], input = ''): Promise<string> {
  const run = await keyward(args, input);
  if (run.code !== 0) throw new Error(`keyward ${args[0]} ${args[1] ?? ''} failed: ${run.stderr}`);
  return run.stdout;
}

/** A fresh random API key (the sample API's keys; tests may pass canaries instead). */
export const newApiKey = (): string => `sk_live_${randomBytes(24).toString('base64url')}`;

/** The tools.config.json of the example: three tools over the sample API, three policy rules. */
export function exampleConfig(dir: string, origin: string): Record<string, unknown> {
  const get = (description: string, permission: string, pathTemplate: string, withId: boolean) => ({
    description,
    permission,
    credential: 'projects',
    request: { method: 'GET', url: `${origin}${pathTemplate}` },
    input: withId
      ? { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }
      : { type: 'object', properties: {} },
  });
  return {
    agents: { [AGENT]: { roles: ['analyst'], tenant: 'acme' } },
    identity: { stdio: { agent: AGENT } },
    backends: { local: { type: 'file', path: `${dir}/secrets.enc`, keyPath: `${dir}/master.key` } },
    credentials: {
      projects: {
        backend: 'local',
        ref: 'projects-api',
        inject: { type: 'bearer' },
        origins: [origin],
        // Long enough that the rotation below meets a cached (old) key: keyward's one re-fetch
        // after the upstream's 401 is what keeps it invisible.
        cacheTtlSeconds: 300,
      },
    },
    tools: {
      list_projects: get('List the projects', 'projects:read', '/projects', false),
      get_project: get(
        'Read one project in full (an operator must approve)',
        'projects:detail',
        '/projects/{id}',
        true,
      ),
      project_status: get(
        'Poll one project (at most one call every 3 s)',
        'projects:poll',
        '/projects/{id}',
        true,
      ),
    },
    policy: {
      rules: [
        { id: 'read', effect: 'allow', roles: ['analyst'], permissions: ['projects:read'] },
        {
          id: 'detail-needs-operator',
          effect: 'approve',
          roles: ['analyst'],
          permissions: ['projects:detail'],
          approval: 'operator',
          grantTtlSeconds: 600,
          maxGrantTtlSeconds: 600,
        },
        {
          id: 'poll',
          effect: 'allow',
          roles: ['analyst'],
          permissions: ['projects:poll'],
          rateLimit: { requests: 1, perSeconds: 3 },
        },
      ],
    },
    audit: { type: 'sqlite', path: `${dir}/audit.db` },
    grants: { store: 'sqlite', path: `${dir}/grants.db` },
    logging: { level: 'warn' },
  };
}

/** How the agent reaches keyward: a command to spawn (stdio) or a URL and a bearer token (HTTP). */
export type KeywardEndpoint =
  { transport: 'stdio'; command: string; args: string[] } | { transport: 'http'; url: string; token: string };

export interface PendingApproval {
  id: string;
  agent: string;
  permission: string;
  justification?: string;
}

export interface World {
  readonly dir: string;
  readonly configPath: string;
  readonly api: SampleApi;
  readonly endpoint: KeywardEndpoint;
  /** Every key the upstream ever accepted (for leak checks). */
  readonly keys: string[];
  /** What the operator did, in order (for the transcript). */
  readonly operatorLog: string[];
  /** `keyward grants list --json`: the pending approvals. */
  pendingApprovals(): Promise<PendingApproval[]>;
  /** `keyward grants approve ID`. */
  approve(id: string): Promise<void>;
  /** The provider rotates the key: the old one stops working, the store gets the new one. */
  rotateKey(newKey: string): Promise<void>;
  /** keyward's stderr so far (HTTP mode; on stdio the client owns the process). */
  serverStderr(): string;
  close(): Promise<void>;
}

export async function startWorld(
  transport: Transport,
  options: { initialKey?: string; keepDir?: boolean } = {},
): Promise<World> {
  const initialKey = options.initialKey ?? newApiKey();
  const api = await startSampleApi(initialKey);
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-langgraph-'));
  const configPath = path.join(dir, 'tools.config.json');
  let server: ChildProcessWithoutNullStreams | undefined;
  let stderr = '';
  try {
    await keywardOk(['init', '--dir', dir]);
    writeFileSync(configPath, JSON.stringify(exampleConfig(dir, api.origin), null, 2));
    await keywardOk(['secrets', 'set', 'projects-api', '--config', configPath], initialKey);

    let endpoint: KeywardEndpoint;
    if (transport === 'stdio') {
      endpoint = {
        transport,
        command: process.execPath,
        args: [keywardMain, 'serve', '--config', configPath],
      };
    } else {
      const created = JSON.parse(
        await keywardOk([
          'tokens',
          'create',
          '--agent',
          AGENT,
          '--id',
          'langgraph',
          '--json',
          '--config',
          configPath,
        ]),
      ) as { token: string };
      const child = spawn(
        process.execPath,
        [keywardMain, 'serve', '--http', '--host', '127.0.0.1', '--port', '0', '--config', configPath],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      server = child;
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const match = /keyward: listening on (\S+)/.exec(stderr);
          if (match?.[1]) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`keyward serve --http exited ${code}: ${stderr}`)));
      });
      endpoint = { transport, url, token: created.token };
    }

    const keys = [initialKey];
    const operatorLog: string[] = [];
    return {
      dir,
      configPath,
      api,
      endpoint,
      keys,
      operatorLog,
      async pendingApprovals() {
        const listed = JSON.parse(await keywardOk(['grants', 'list', '--json', '--config', configPath])) as {
          pending: PendingApproval[];
        };
        return listed.pending;
      },
      async approve(id) {
        await keywardOk(['grants', 'approve', id, '--by', 'operator', '--config', configPath]);
        operatorLog.push(`keyward grants approve ${id}`);
      },
      async rotateKey(newKey) {
        keys.push(newKey);
        api.acceptedKeys = new Set([newKey]);
        await keywardOk(['secrets', 'set', 'projects-api', '--config', configPath], newKey);
        operatorLog.push('keyward secrets set projects-api  (the provider rotated the key)');
      },
      serverStderr: () => stderr,
      async close() {
        if (server !== undefined && server.exitCode === null) {
          const exited = new Promise((resolve) => server?.once('exit', resolve));
          server.kill('SIGTERM');
          await exited;
        }
        await api.close();
        if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    server?.kill('SIGTERM');
    await api.close();
    throw error;
  }
}
