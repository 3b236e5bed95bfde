/**
 * Runtime capabilities end to end: the built CLI over real stdio with SDK clients (one that can
 * elicit, one that cannot), `keyward grants` from another process, a local upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { connectStdio, mainJs, makeWorkspace, runCli, type StdioSession } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { ELICITED_SCOPE } from '../../src/policy/human-approval.js';

const KEY = 'kw_test_caps_7c1e9a2b4d6f8a0c2e4b6d8f';

let upstream: Upstream;
let configPath: string;
let dir: string;
let human: { client: Client; close: () => Promise<void> };
let plain: StdioSession;
let answer: { action: 'accept' | 'decline'; content?: Record<string, unknown> } = { action: 'decline' };
const prompts: string[] = [];

type Structured = Record<string, unknown>;

function errorOf(result: unknown): Structured {
  const r = result as CallToolResult;
  expect(r.isError, JSON.stringify(r.content)).toBe(true);
  return (r.structuredContent as { error: Structured }).error;
}

function ok(result: unknown): Structured {
  const r = result as CallToolResult;
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  return r.structuredContent as Structured;
}

async function auditTypes(requestId: string): Promise<string[]> {
  const q = await runCli(['audit', 'query', '--config', configPath, '--json', '--limit', '1000']);
  const text = q.stdout.trim();
  const records = (text.startsWith('[') ? JSON.parse(text) : text.split('\n').map((l) => JSON.parse(l))) as {
    type: string;
    requestId?: string;
  }[];
  return records.filter((r) => r.requestId === requestId).map((r) => r.type);
}

async function grantsJson(): Promise<{ pending: Structured[]; grants: Structured[] }> {
  const list = await runCli(['grants', 'list', '--config', configPath, '--json']);
  expect(list.code, list.stderr).toBe(0);
  return JSON.parse(list.stdout) as { pending: Structured[]; grants: Structured[] };
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath, dir } = await makeWorkspace(
    (d) => {
      const base = coreConfig(d, upstream.origin) as {
        agents: Record<string, unknown>;
        tools: Record<string, Record<string, unknown>>;
      };
      return {
        ...base,
        agents: {
          local: { roles: ['owner'], tenant: 'default' },
          ops: { roles: ['owner'], tenant: 'default' },
        },
        tools: {
          get_repo: base.tools.get_repo,
          create_item: base.tools.create_item,
          admin_read: {
            ...base.tools.forbidden_read,
            fallback: { result: { note: 'read-only mode', items: [] } },
          },
          admin_read_via_repo: { ...base.tools.forbidden_read, fallback: { tool: 'get_repo' } },
          admin_secret: base.tools.forbidden_read,
        },
        policy: {
          hideUnusableTools: true,
          rules: [
            {
              id: 'read',
              effect: 'allow',
              roles: ['owner'],
              permissions: ['api:read'],
              rateLimit: { requests: 2, perSeconds: 4 },
            },
            {
              id: 'write',
              effect: 'approve',
              roles: ['owner'],
              permissions: ['api:write'],
              grantTtlSeconds: 300,
              maxGrantTtlSeconds: 600,
            },
            { id: 'no-admin', effect: 'deny', permissions: ['admin:*'] },
          ],
        },
        grants: { store: 'sqlite', path: `${d}/grants.db` },
        logging: { level: 'warn' },
      };
    },
    { api: KEY },
  ));
  // A client that declares elicitation and a forged clientInfo; the principal still comes from config.
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [mainJs, 'serve', '--config', configPath, '--agent', 'local'],
    stderr: 'pipe',
  });
  const client = new Client(
    { name: 'root-admin', version: '9.9.9' },
    { capabilities: { elicitation: { form: {} } } },
  );
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    prompts.push(String(request.params.message));
    return Promise.resolve(answer);
  });
  await client.connect(transport);
  human = { client, close: () => client.close() };
  plain = await connectStdio(configPath, { args: ['--agent', 'ops'] });
});

afterAll(async () => {
  await human?.close();
  await plain?.close();
  await upstream?.close();
  expect(dir).toBeTruthy();
});

describe('capabilities over stdio', () => {
  it('hides tools the agent can never use but still answers and audits a call to one', async () => {
    const names = (await human.client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['list_capabilities', 'request_capability', 'get_repo', 'create_item']),
    );
    expect(names).not.toContain('admin_secret');
    const err = errorOf(
      await human.client.callTool({ name: 'admin_secret', arguments: { owner: 'a', repo: 'b' } }),
    );
    expect(err.code).toBe('permission_denied');
    expect(String(err.message)).toContain('no-admin');
    expect(await auditTypes(String(err.requestId))).toEqual(
      expect.arrayContaining(['capability.denied', 'call.rejected']),
    );
  });

  it('decline → approval_denied, no credential read and no upstream request', async () => {
    answer = { action: 'decline' };
    const before = upstream.requests.length;
    const err = errorOf(await human.client.callTool({ name: 'create_item', arguments: { name: 'x' } }));
    expect(err.code).toBe('approval_denied');
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toContain('api:write');
    expect(prompts[0]).toContain('create_item');
    expect(upstream.requests.length).toBe(before);
    const types = await auditTypes(String(err.requestId));
    expect(types).toEqual(
      expect.arrayContaining(['approval.requested', 'approval.answered', 'call.rejected']),
    );
    expect(types).not.toContain('call.started'); // the credential step never ran
  });

  it('accept (default scope) → the call succeeds; the grant covers only that call, other arguments ask again', async () => {
    answer = { action: 'accept', content: { approve: true, ttlSeconds: '300' } };
    ok(await human.client.callTool({ name: 'create_item', arguments: { name: 'pinned' } }));
    expect(prompts).toHaveLength(2);
    ok(await human.client.callTool({ name: 'create_item', arguments: { name: 'pinned' } }));
    expect(prompts).toHaveLength(2);
    answer = { action: 'decline' };
    const err = errorOf(await human.client.callTool({ name: 'create_item', arguments: { name: 'other' } }));
    expect(err.code).toBe('approval_denied');
    expect(prompts).toHaveLength(3);
  });

  it('accept → the call succeeds in the same request and a grant exists for the chosen TTL', async () => {
    answer = {
      action: 'accept',
      content: { approve: true, ttlSeconds: '300', scope: ELICITED_SCOPE.any },
    };
    const before = upstream.requests.length;
    const asked = prompts.length;
    const body = ok(await human.client.callTool({ name: 'create_item', arguments: { name: 'widget' } }));
    expect(body.status).toBe(201);
    expect(upstream.requests.length).toBe(before + 1);
    expect(prompts).toHaveLength(asked + 1);
    const { grants } = await grantsJson();
    const grant = grants.find((g) => g.agent === 'local' && g.constraints === undefined);
    expect(grant).toMatchObject({ permission: 'api:write', createdBy: 'elicitation' });
    expect(Number(grant?.expiresAt) - Number(grant?.createdAt)).toBe(300_000);
    // The grant now covers the next call without asking again.
    ok(await human.client.callTool({ name: 'create_item', arguments: { name: 'again' } }));
    expect(prompts).toHaveLength(asked + 1);
  });

  it('a forged clientInfo changes nothing: the principal is the configured agent', async () => {
    const listed = ok(await human.client.callTool({ name: 'list_capabilities', arguments: {} }));
    expect(listed.agent).toBe('local');
    const caps = listed.capabilities as { tool: string; status: string }[];
    expect(caps.find((c) => c.tool === 'create_item')?.status).toBe('granted');
    expect(caps.find((c) => c.tool === 'admin_secret')?.status).toBe('denied');
  });

  it('without elicitation: approval_required + id, `keyward grants approve` in another process, retry succeeds', async () => {
    const err = errorOf(await plain.client.callTool({ name: 'create_item', arguments: { name: 'p' } }));
    expect(err.code).toBe('approval_required');
    const approvalId = String(err.approvalId);
    expect(approvalId).toMatch(/^a_/);
    const { pending } = await grantsJson();
    expect(pending.map((p) => p.id)).toContain(approvalId);
    const approve = await runCli([
      'grants',
      'approve',
      approvalId,
      '--config',
      configPath,
      '--ttl',
      '120',
      '--by',
      'ann',
    ]);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain('approved');
    expect(approve.stdout).toContain('scope: only the arguments of the approved call');
    const body = ok(await plain.client.callTool({ name: 'create_item', arguments: { name: 'p' } }));
    expect(body.status).toBe(201);
  });

  it('`grants list` shows the exact arguments an approval will cover, not a prefix the agent padded', async () => {
    // The agent puts 300 harmless characters first: a list cut at 200 showed only them, and
    // `grants approve` then pinned the grant to a tail the operator never saw (security review
    // of 2026-12-05).
    const padded = `monthly notes${' '.repeat(300)}and-also-delete-everything`;
    const asked = errorOf(await plain.client.callTool({ name: 'create_item', arguments: { name: padded } }));
    expect(asked.code).toBe('approval_required');
    const listed = await runCli(['grants', 'list', '--config', configPath]);
    expect(listed.code, listed.stderr).toBe(0);
    const row = listed.stdout.split('\n').findIndex((l) => l.includes(String(asked.approvalId)));
    expect(row).toBeGreaterThanOrEqual(0);
    expect(listed.stdout.split('\n')[row + 1]).toContain(JSON.stringify({ name: padded }));
  });

  it('an operator approval covers the arguments the operator saw; --any-args widens it (issue 12 §3)', async () => {
    // Other arguments than the approved call's: a new request, not the approved grant.
    const other = errorOf(
      await plain.client.callTool({ name: 'create_item', arguments: { name: 'wipe-all' } }),
    );
    expect(other.code).toBe('approval_required');
    const listed = await runCli(['grants', 'list', '--config', configPath]);
    expect(listed.stdout).toContain('scope: these arguments only');
    expect(listed.stdout).toContain('"name":"wipe-all"');
    const approve = await runCli([
      'grants',
      'approve',
      String(other.approvalId),
      '--any-args',
      '--config',
      configPath,
    ]);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain('scope: any arguments');
    ok(await plain.client.callTool({ name: 'create_item', arguments: { name: 'anything' } }));
  });

  it('`keyward grants revoke` while the agent calls in a loop: the next call after it is denied (credential cached)', async () => {
    const { grants } = await grantsJson();
    const grant = grants.find((g) => g.agent === 'ops');
    expect(grant).toBeDefined();
    for (let i = 0; i < 3; i++)
      ok(await plain.client.callTool({ name: 'create_item', arguments: { name: `loop${i}` } }));
    const revoke = await runCli(['grants', 'revoke', String(grant?.id), '--config', configPath]);
    expect(revoke.code, revoke.stderr).toBe(0);
    const before = upstream.requests.length;
    const err = errorOf(await plain.client.callTool({ name: 'create_item', arguments: { name: 'after' } }));
    expect(err.code).toBe('permission_denied');
    expect(upstream.requests.length).toBe(before);
  });

  it("the operator's terminal is not the agent's to draw on: grants list escapes the agent's text (issue 12 §4)", async () => {
    // Erase the line, move up, and redraw the row as an innocent request.
    const spoof =
      'x\r\u001b[2K\u001b[1Aa_innocent  ops@default  repo:read  justification: read the README\u0007\u202e';
    await plain.client.callTool({
      name: 'request_capability',
      arguments: { permission: 'api:write', justification: spoof, constraints: { name: 'spoof' } },
    });
    const listed = await runCli(['grants', 'list', '--config', configPath]);
    expect(listed.code, listed.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- the test looks for raw control characters
    expect(listed.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(listed.stdout).toContain('x\\r\\e[2K\\e[1Aa_innocent');
    // --json stays exact JSON: the value round-trips.
    const json = JSON.parse((await runCli(['grants', 'list', '--json', '--config', configPath])).stdout) as {
      pending: { justification?: string }[];
    };
    expect(json.pending.map((p) => p.justification)).toContain(spoof);
  });

  it('request_capability without elicitation returns pending with an approvalId', async () => {
    const res = ok(
      await plain.client.callTool({
        name: 'request_capability',
        arguments: { permission: 'api:write', justification: 'need to create items', ttlSeconds: 60 },
      }),
    );
    expect(res).toMatchObject({ status: 'pending' });
    expect(String(res.approvalId)).toMatch(/^a_/);
    const denied = ok(
      await plain.client.callTool({ name: 'request_capability', arguments: { permission: 'admin:read' } }),
    );
    expect(denied).toMatchObject({ status: 'denied', code: 'permission_denied' });
  });

  it('a fallback answers on permission_denied, and says so', async () => {
    const r = ok(await human.client.callTool({ name: 'admin_read', arguments: { owner: 'a', repo: 'b' } }));
    expect(r).toMatchObject({ fallback: 'result', body: { note: 'read-only mode', items: [] } });
    const viaTool = ok(
      await human.client.callTool({ name: 'admin_read_via_repo', arguments: { owner: 'acme', repo: 'w' } }),
    );
    expect(viaTool).toMatchObject({ fallback: 'tool:get_repo', status: 200 });
  });

  it('rate limit: N+1 → rate_limited with retryAfterSeconds correct to the second, then success', async () => {
    // Buckets are per agent: the fallback's get_repo call above ran as "local", this is "ops".
    ok(await plain.client.callTool({ name: 'get_repo', arguments: { owner: 'acme', repo: 'w' } }));
    ok(await plain.client.callTool({ name: 'get_repo', arguments: { owner: 'acme', repo: 'w' } }));
    const err = errorOf(
      await plain.client.callTool({ name: 'get_repo', arguments: { owner: 'acme', repo: 'w' } }),
    );
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterSeconds).toBe(2); // one token per 2 s, under a second elapsed
    await new Promise((r) => setTimeout(r, 1_000));
    expect(
      errorOf(await plain.client.callTool({ name: 'get_repo', arguments: { owner: 'acme', repo: 'w' } }))
        .code,
    ).toBe('rate_limited');
    await new Promise((r) => setTimeout(r, 1_050));
    ok(await plain.client.callTool({ name: 'get_repo', arguments: { owner: 'acme', repo: 'w' } }));
  });
});
