/**
 * `keyward demo`: a guided run on embedded defaults. It starts a local sample API, stores its key
 * in a fresh encrypted store, starts keyward over stdio and drives it as an agent would, printing
 * what the agent sees: tools, a call, a denial, an operator's approval in the console (driven over
 * HTTP as a browser would), a rotation mid-run, a redacted echo, per-user OAuth connections
 * against a local OpenID Connect provider, the audit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { scriptedConsent } from '../../demo/consent-client.js';
import { loadOidcProvider, startOidc } from '../../demo/local-oidc.js';
import { startSampleApi } from '../../demo/sample-api.js';
import { generateToken, sha256Hex } from '../../identity/token-hash.js';
import { action } from '../errors.js';

// The demo drives the keyward that is running it (the bundle or tsc's dist/src/main.js): its
// modules may sit in a chunk of the bundle, so their own location says nothing about the entry's.
const mainJs = path.resolve(process.argv[1] ?? '');

function cli(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function must(args: string[], input = ''): Promise<string> {
  const result = await cli(args, input);
  if (result.code !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

const out = (line = ''): boolean => process.stdout.write(`${line}\n`);
const step = (title: string): boolean => out(`\n== ${title}`);
const show = (label: string, value: unknown): boolean =>
  out(`${label}\n${JSON.stringify(value, null, 2).replace(/^/gm, '   ')}`);

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('a guided run on embedded defaults against a local sample API')
    .option('--keep', 'keep the temporary workspace')
    .action(action(demo));
}

async function demo(options: { keep?: boolean }): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-demo-'));
  const key1 = `demo_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const key2 = `demo_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const api = await startSampleApi(key1);
  const configPath = path.join(dir, 'tools.config.json');
  let client: Client | undefined;
  let consoleProcess: ChildProcess | undefined;
  const operatorToken = generateToken();
  const consolePort = await freePort();
  const consoleOrigin = `http://127.0.0.1:${consolePort}`;
  try {
    step('1. Set up: a fresh encrypted store, the API key stored in it (never in the config)');
    await must(['init', '--dir', dir]);
    const tool = (p: string, permission: string, input: Record<string, unknown> = {}) => ({
      description: `${p} on the sample API`,
      permission,
      credential: 'sample',
      request: { method: 'GET', url: `${api.origin}${p}` },
      input: { type: 'object', properties: input, required: Object.keys(input) },
    });
    writeFileSync(
      configPath,
      JSON.stringify(
        {
          agents: { assistant: { roles: ['reader'], tenant: 'demo' } },
          identity: { stdio: { agent: 'assistant' } },
          backends: { local: { type: 'file', path: './secrets.enc', keyPath: './master.key' } },
          credentials: {
            sample: {
              backend: 'local',
              ref: 'sample-api',
              inject: { type: 'bearer' },
              origins: [api.origin],
            },
          },
          tools: {
            list_projects: tool('/projects', 'projects:read'),
            get_project: tool('/projects/{id}', 'projects:read', { id: { type: 'string' } }),
            debug_whoami: tool('/debug/whoami', 'projects:read'),
            delete_project: {
              ...tool('/projects/{id}', 'projects:delete', { id: { type: 'string' } }),
              request: { method: 'DELETE', url: `${api.origin}/projects/{id}` },
            },
            archive_project: {
              ...tool('/projects/{id}/archive', 'projects:archive', { id: { type: 'string' } }),
              request: { method: 'POST', url: `${api.origin}/projects/{id}/archive` },
            },
          },
          policy: {
            hideUnusableTools: false,
            rules: [
              { id: 'readers-read', effect: 'allow', roles: ['reader'], permissions: ['projects:read'] },
              {
                id: 'archive-needs-operator',
                effect: 'approve',
                roles: ['reader'],
                permissions: ['projects:archive'],
                approval: 'operator',
                grantTtlSeconds: 300,
              },
            ],
          },
          console: {
            operators: [{ name: 'demo-operator', sha256: sha256Hex(operatorToken) }],
            publicUrl: `${consoleOrigin}/console`,
          },
          audit: { type: 'sqlite', path: './audit.db' },
          grants: { store: 'sqlite', path: './grants.db' },
          logging: { level: 'warn' },
        },
        null,
        2,
      ),
    );
    await must(['secrets', 'set', 'sample-api', '--config', configPath], key1);
    out(`   workspace: ${dir}`);
    out('   keyward secrets list:');
    out((await must(['secrets', 'list', '--config', configPath])).replace(/^/gm, '     ').trimEnd());

    step('2. Start keyward over stdio and connect as an agent');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [mainJs, 'serve', '--config', configPath],
      stderr: 'ignore',
    });
    client = new Client({ name: 'demo-agent', version: '1.0.0' });
    await client.connect(transport);
    const { tools } = await client.listTools();
    out(`   tools/list → ${tools.map((t) => t.name).join(', ')}`);

    step('3. A call: keyward checks the policy, fetches the key just in time and injects it');
    const listed = (await client.callTool({
      name: 'get_project',
      arguments: { id: 'p1' },
    })) as CallToolResult;
    show('   get_project {id:"p1"} →', listed.structuredContent);
    out(
      `   the API received the stored key: ${api.seenKeys.at(-1) === key1 ? 'yes' : 'NO'}; the agent saw it: ${JSON.stringify(listed).includes(key1) ? 'YES (bug)' : 'no'}`,
    );

    step('4. A denied call: a structured error the agent can plan around (no key read, no request)');
    const before = api.seenKeys.length;
    const denied = (await client.callTool({
      name: 'delete_project',
      arguments: { id: 'p1' },
    })) as CallToolResult;
    show('   delete_project {id:"p1"} →', denied.structuredContent);
    out(`   requests that reached the API: ${api.seenKeys.length - before}`);

    step('5. A call that needs an operator: the agent gets a link, an operator approves in the console');
    consoleProcess = await startConsole(configPath);
    out(`   approval console: ${consoleOrigin}/console/ (keyward console; serve --http has it at /console/)`);
    const asked = (await client.callTool({
      name: 'archive_project',
      arguments: { id: 'p2' },
    })) as CallToolResult;
    const askedError = (asked.structuredContent as { error: { approvalId: string; url: string } }).error;
    show('   archive_project {id:"p2"} →', asked.structuredContent);
    out(`   the operator opens ${askedError.url}, sees the exact arguments and approves (scripted here):`);
    out(`   ${await approveInConsole(consoleOrigin, operatorToken, askedError.approvalId)}`);
    const archived = (await client.callTool({
      name: 'archive_project',
      arguments: { id: 'p2' },
    })) as CallToolResult;
    show('   the agent retries archive_project {id:"p2"} →', archived.structuredContent);

    step('6. The key is rotated mid-run: the API now accepts only the new key');
    await must(['secrets', 'rotate', 'sample-api', '--config', configPath], key2);
    api.acceptedKeys = new Set([key2]);
    const sentBefore = api.seenKeys.length;
    const afterRotation = (await client.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
    const sent = api.seenKeys.slice(sentBefore);
    const how = sent.includes(key1)
      ? 'the API refused the old key (401); keyward re-fetched the new version once and retried'
      : 'keyward noticed the store changed, dropped its cached copy and fetched the new version';
    out(`   list_projects → ${afterRotation.isError ? 'FAILED' : 'ok'}: ${how}`);

    step('7. A careless endpoint echoes the key back: keyward redacts it in every encoding');
    const echoed = (await client.callTool({ name: 'debug_whoami', arguments: {} })) as CallToolResult;
    show('   debug_whoami →', echoed.structuredContent);

    await client.close();
    client = undefined;

    step('8. Act for each user: each person connects their own account; calls carry their own token');
    out(await actForEachUser(dir));

    step('9. The audit trail: every decision and call, hash-chained, no secret');
    out((await must(['audit', 'tail', '-n', '8', '--config', configPath])).replace(/^/gm, '   ').trimEnd());
    out((await must(['audit', 'verify', '--config', configPath])).replace(/^/gm, '   ').trimEnd());
    out(
      '\nDone. Next: `keyward init` for your own setup, then `keyward secrets set NAME` and `keyward serve`.',
    );
  } finally {
    await client?.close().catch(() => undefined);
    // Awaited: a child still shutting down writes into `dir` (its audit journal and checkpoints)
    // while it is being removed, and the removal fails with ENOTEMPTY.
    if (consoleProcess !== undefined) await stopChild(consoleProcess);
    await api.close();
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then waits for the exit (SIGKILL if it has not exited after 10 s). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** `keyward console` in the background, resolved once it listens. */
function startConsole(configPath: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, 'console', '--config', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('keyward: console on')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`keyward console exited ${code}: ${stderr.trim()}`)));
  });
}

/**
 * What an operator does in the browser, over plain HTTP: sign in with the operator token, open
 * the request's page, post its Approve form (with the page's CSRF token, from the console's origin).
 */
async function approveInConsole(origin: string, token: string, approvalId: string): Promise<string> {
  const form = { 'content-type': 'application/x-www-form-urlencoded', origin };
  const login = await fetch(`${origin}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: form,
    body: new URLSearchParams({ token }).toString(),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const pagePath = `/console/approvals/${encodeURIComponent(approvalId)}`;
  const page = await (await fetch(`${origin}${pagePath}`, { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  const approved = await fetch(`${origin}${pagePath}/approve`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...form, cookie },
    body: new URLSearchParams({ csrf, scope: 'these', ttlSeconds: '300' }).toString(),
  });
  return approved.status === 303
    ? `approved request ${approvalId} as operator "demo-operator" (only these arguments, 5 minutes)`
    : `the console answered ${approved.status}`;
}

/**
 * Step 8: `keyward serve --http` with a user connection to a local OpenID Connect provider
 * (oidc-provider, a development dependency: skipped when it is not installed). Alice's first call
 * answers authorization_required with keyward's start link; she consents (scripted as her
 * browser); her retry reaches the API as alice. Bob's link opened by alice is refused.
 */
async function actForEachUser(dir: string): Promise<string> {
  if ((await loadOidcProvider()) === undefined)
    return '   skipped: the local OpenID Connect provider (oidc-provider) is a development dependency; run `npm run demo` in a clone';
  const lines: string[] = [];
  const say = (line: string): number => lines.push(line);
  const oidc = await startOidc();
  const tokens = { alice: generateToken(), bob: generateToken() };
  const clientSecret = generateToken();
  const configPath = path.join(dir, 'users.config.json');
  let server: ChildProcess | undefined;
  const clients: Client[] = [];
  try {
    writeFileSync(
      configPath,
      JSON.stringify(
        {
          agents: { assistant: { roles: ['user'], tenant: 'demo' } },
          identity: {
            tokens: Object.entries(tokens).map(([user, token]) => ({
              agent: 'assistant',
              sha256: sha256Hex(token),
              id: user,
              user,
            })),
          },
          backends: { local: { type: 'file', path: './secrets.enc', keyPath: './master.key' } },
          credentials: {
            me: {
              backend: 'local',
              ref: 'connections/{tenant}/{user}/local-idp',
              connection: 'local-idp',
              inject: { type: 'bearer' },
              origins: [oidc.apiOrigin],
            },
          },
          connections: {
            providers: {
              'local-idp': {
                issuer: oidc.issuer,
                clientId: 'keyward',
                clientSecret: { backend: 'local', ref: 'oauth/local-idp' },
                scopes: ['openid', 'offline_access', 'api'],
                verifyUser: 'idToken',
              },
            },
          },
          tools: {
            whoami: {
              description: 'who the API thinks the caller is',
              permission: 'api:read',
              credential: 'me',
              request: { method: 'GET', url: `${oidc.apiOrigin}/whoami` },
            },
          },
          policy: { rules: [{ id: 'read', effect: 'allow', roles: ['user'], permissions: ['api:read'] }] },
          audit: { type: 'sqlite', path: './audit.db' },
          grants: { store: 'sqlite', path: './grants.db' },
          logging: { level: 'warn' },
        },
        null,
        2,
      ),
    );
    await must(['secrets', 'set', 'oauth/local-idp', '--config', configPath], clientSecret);
    say(
      `   a local OpenID Connect provider at ${oidc.issuer}, an API that accepts only its tokens at ${oidc.apiOrigin}`,
    );
    say('   the OAuth client secret is stored in the encrypted store (oauth/local-idp), never in the config');
    const started = await startHttp(configPath);
    server = started.child;
    const origin = new URL(started.url).origin;
    oidc.configure([{ clientId: 'keyward', clientSecret, redirectUris: [`${origin}/oauth/callback`] }]);
    say(`   keyward serve --http at ${started.url}; its consent pages at ${origin}/oauth/`);
    const agent = async (user: 'alice' | 'bob'): Promise<Client> => {
      const client = new Client({ name: `demo-${user}`, version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(started.url), {
          requestInit: { headers: { Authorization: `Bearer ${tokens[user]}` } },
        }),
      );
      clients.push(client);
      return client;
    };
    const whoami = async (client: Client): Promise<CallToolResult> =>
      (await client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult;
    const errorOf = (r: CallToolResult) =>
      (r.structuredContent as { error?: { code: string; url?: string } } | undefined)?.error;

    const alice = await agent('alice');
    const first = await whoami(alice);
    const link = errorOf(first)?.url ?? '';
    say(`   alice's agent calls whoami → ${errorOf(first)?.code ?? 'ok'}`);
    say(`     url: ${link}`);
    const consent = await scriptedConsent(link, 'alice');
    say(
      `   alice opens it, signs in as alice at the provider and consents (scripted as her browser) → ${consent.body.includes('Connected') ? 'Connected' : `HTTP ${consent.status}`}`,
    );
    const retry = await whoami(alice);
    const body = (retry.structuredContent as { body?: { user?: string } } | undefined)?.body;
    say(
      `   alice's agent retries → the API answers for user "${body?.user ?? '?'}"; the agent never saw a token`,
    );

    const bob = await agent('bob');
    const bobLink = errorOf(await whoami(bob))?.url ?? '';
    const misuse = await scriptedConsent(bobLink, 'alice');
    say(
      `   bob's link, opened and consented by alice → ${misuse.status === 403 ? 'refused: the person who consented is not bob; nothing stored' : `HTTP ${misuse.status}`}`,
    );
    say('   keyward connections list:');
    const list = await must(['connections', 'list', '--config', configPath]);
    say(list.replace(/^/gm, '     ').trimEnd());
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    if (server !== undefined) await stopChild(server);
    await oidc.close();
  }
  return lines.join('\n');
}

/** `keyward serve --http --port 0` in the background, resolved with its /mcp URL. */
function startHttp(configPath: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [mainJs, 'serve', '--http', '--port', '0', '--config', configPath],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /keyward: listening on (\S+)/.exec(stderr);
      if (match?.[1] !== undefined) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`keyward serve --http exited ${code}: ${stderr.trim()}`)));
  });
}
