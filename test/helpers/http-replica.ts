/** Spawns `keyward serve --http` (the built CLI) as a replica and connects SDK clients to it with a bearer token. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ELICITED_SCOPE } from '../../src/policy/human-approval.js';
import { mainJs } from './cli.js';

export interface Replica {
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  stderr(): string;
  connect(token: string, options?: { elicit?: boolean }): Promise<Client>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

export async function startReplica(configPath: string, env: Record<string, string> = {}): Promise<Replica> {
  const child = spawn(process.execPath, [mainJs, 'serve', '--http', '--port', '0', '--config', configPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /keyward: listening on (\S+)/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`replica exited ${code}: ${stderr}`)));
  });
  const clients: Client[] = [];
  return {
    url,
    child,
    stderr: () => stderr,
    async connect(token, options = {}) {
      const client = new Client(
        { name: 'replica-test', version: '0' },
        { capabilities: options.elicit ? { elicitation: { form: {} } } : {} },
      );
      if (options.elicit)
        client.setRequestHandler(ElicitRequestSchema, () => ({
          action: 'accept',
          // The person widens the grant to any arguments (the default pins it to the call shown).
          content: { approve: true, scope: ELICITED_SCOPE.any },
        }));
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      clients.push(client);
      return client;
    },
    async stop() {
      for (const c of clients) await c.close().catch(() => undefined);
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
