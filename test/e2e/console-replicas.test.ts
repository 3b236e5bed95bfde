/**
 * The console behind a load balancer (issue 15): two `serve --http` replicas share grants through
 * Redis (a random key prefix on the machine's Redis). An agent's call waits on replica A after a
 * URL elicitation; an operator approves on replica B's console; A's call completes. A deny on B
 * ends a call waiting on A with approval_denied.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { signIn } from '../helpers/console-client.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';

const KEY = `kw_test_console_rep_${randomBytes(8).toString('hex')}`;
const TOKENS = { first: generateToken(), second: generateToken() };
const OPERATOR_TOKEN = generateToken();
const keyPrefix = `kwtest:console:${randomBytes(4).toString('hex')}:`;
const env = { KW_TEST_CACHE_KEY: randomBytes(32).toString('base64') };

let upstream: Upstream;
let a: Replica;
let b: Replica;

async function agentOn(replica: Replica, token: string) {
  const client = new Client(
    { name: 'replica-agent', version: '0' },
    { capabilities: { elicitation: { url: {} } } },
  );
  const urls: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    urls.push(String((request.params as { url?: string }).url));
    return { action: 'accept' };
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replica.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return { client, urls };
}

async function until<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function errorCode(result: CallToolResult): unknown {
  return (result.structuredContent as { error?: { code?: string } } | undefined)?.error?.code;
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  const { configPath } = await makeWorkspace(
    (dir) => ({
      ...coreConfig(dir, upstream.origin),
      agents: {
        first: { roles: ['owner'], tenant: 'default' },
        second: { roles: ['owner'], tenant: 'default' },
      },
      identity: {
        tokens: [
          { agent: 'first', sha256: sha256Hex(TOKENS.first), id: 'first' },
          { agent: 'second', sha256: sha256Hex(TOKENS.second), id: 'second' },
        ],
      },
      console: { operators: [{ name: 'carol', sha256: sha256Hex(OPERATOR_TOKEN) }], waitSeconds: 60 },
      policy: {
        hideUnusableTools: false,
        rules: [
          {
            id: 'write',
            effect: 'approve',
            roles: ['owner'],
            permissions: ['api:write'],
            grantTtlSeconds: 600,
          },
        ],
      },
      cache: {
        type: 'redis',
        url: 'redis://127.0.0.1:6379',
        keyPrefix,
        encryptionKey: { env: 'KW_TEST_CACHE_KEY' },
      },
      grants: { store: 'redis' },
      logging: { level: 'warn' },
    }),
    { api: KEY },
  );
  [a, b] = await Promise.all([startReplica(configPath, env), startReplica(configPath, env)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('two replicas behind Redis', () => {
  it('an approval on replica B’s console releases the call waiting on replica A', async () => {
    const agent = await agentOn(a, TOKENS.first);
    const call = agent.client.callTool({
      name: 'create_any',
      arguments: { across: 'replicas' },
    }) as Promise<CallToolResult>;
    const url = await until(() => agent.urls[0], 'the URL elicitation');
    const id = decodeURIComponent(url.split('/').pop()!);
    const operator = await signIn(new URL(b.url).origin, OPERATOR_TOKEN);
    const path = `/console/approvals/${encodeURIComponent(id)}`;
    expect((await operator.get(path)).html).toContain('across');
    const approved = await operator.post(`${path}/approve`, { scope: 'these' }, { pagePath: path });
    expect(approved.status).toBe(303);
    const result = await call;
    expect(errorCode(result)).toBeUndefined();
    expect(upstream.requests.filter((r) => r.body.includes('replicas'))).toHaveLength(1);
    await agent.client.close();
  });

  it('a deny on replica B ends the call waiting on replica A with approval_denied', async () => {
    const agent = await agentOn(a, TOKENS.second);
    const call = agent.client.callTool({
      name: 'create_any',
      arguments: { never: 'sent' },
    }) as Promise<CallToolResult>;
    const url = await until(() => agent.urls[0], 'the URL elicitation');
    const path = new URL(url).pathname;
    const operator = await signIn(new URL(b.url).origin, OPERATOR_TOKEN);
    expect((await operator.post(`${path}/deny`, { reason: 'no' }, { pagePath: path })).status).toBe(303);
    expect(errorCode(await call)).toBe('approval_denied');
    expect(upstream.requests.some((r) => r.body.includes('never'))).toBe(false);
    await agent.client.close();
  });
});
