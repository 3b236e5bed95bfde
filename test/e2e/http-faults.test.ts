/**
 * Faults in remote mode, never touching the machine's shared services: a private redis-server is
 * killed mid-run (calls keep working from the local cache, rate-limited calls fail closed, no
 * hang; shared state resumes when it is back), and PostgreSQL behind a cut TCP proxy gives
 * audit_unavailable with no upstream call.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { SecretRegistry, silentLogger } from '../../src/observability/logger.js';
import { startHttpService, type HttpService } from '../../src/transports/serve-http.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const KEY = `kw_test_faults_${randomBytes(8).toString('hex')}`;
const TOKEN = generateToken();
const schema = `kw_faults_${randomBytes(4).toString('hex')}`;

let upstream: Upstream;
let redis: PrivateRedis;
let proxy: TcpProxy;
let service: HttpService;
let client: Client;
const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });

async function call(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}
function code(result: CallToolResult): string | undefined {
  return (result.structuredContent as { error?: { code: string } } | undefined)?.error?.code;
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  redis = await PrivateRedis.start();
  proxy = new TcpProxy('127.0.0.1', 5432);
  await proxy.start();
  const pgViaProxy = PG_URL.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
  const { dir, configPath } = await makeWorkspace((d) => coreConfig(d, upstream.origin), { api: KEY });
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> & {
    policy: { rules: unknown[] };
    tools: Record<string, unknown>;
  };
  const config = {
    ...raw,
    identity: { tokens: [{ agent: 'local', sha256: sha256Hex(TOKEN) }] },
    tools: {
      ...raw.tools,
      limited: {
        description: 'rate limited',
        permission: 'api:limited',
        credential: 'api',
        request: { method: 'GET', url: `${upstream.origin}/repos/x/y` },
      },
    },
    policy: {
      hideUnusableTools: false,
      rules: [
        ...raw.policy.rules,
        {
          id: 'limited',
          effect: 'allow',
          roles: ['owner'],
          permissions: ['api:limited'],
          rateLimit: { requests: 100, perSeconds: 60 },
        },
      ],
    },
    cache: { type: 'redis', url: redis.url, keyPrefix: 'kw:', commandTimeoutMs: 200 },
    grants: { store: 'memory' },
    audit: { type: 'postgres', url: pgViaProxy, schema, statementTimeoutMs: 1000, connectTimeoutMs: 1000 },
    server: { http: { host: '127.0.0.1', port: 0 } },
    logging: { level: 'silent' },
  };
  service = await startHttpService(parseConfig(config, configPath, dir), {
    logger: silentLogger(),
    secrets: new SecretRegistry(),
    processMetrics: false,
  });
  client = new Client({ name: 'faults', version: '0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${service.http.baseUrl}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
    }),
  );
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await service?.shutdown(1_000);
  await redis?.stop();
  await proxy?.cut();
  await upstream?.close();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await admin.end();
});

describe('Redis stopped mid-run', () => {
  it('keeps serving from the local cache, fails rate limits closed, never hangs, then resumes', async () => {
    expect(code(await call('get_repo', { owner: 'a', repo: 'b' }))).toBeUndefined();
    expect(code(await call('limited'))).toBeUndefined();
    const readsBefore = service.gateway.parts.resolver.stats().reads;

    await redis.stop();
    const started = Date.now();
    expect(code(await call('get_repo', { owner: 'a', repo: 'b' }))).toBeUndefined();
    // Served from this replica's local copy: no backend read.
    expect(service.gateway.parts.resolver.stats().reads).toBe(readsBefore);
    const limited = await call('limited');
    expect(code(limited)).toBe('rate_limited');
    expect((limited.structuredContent as { error: { retryable: boolean } }).error.retryable).toBe(true);
    // Bounded by the command timeouts, not a hang (generous bound).
    expect(Date.now() - started).toBeLessThan(5_000);
    const ready = await fetch(`${service.http.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { components: Record<string, boolean> }).components.cache).toBe(false);

    await redis.resume();
    const deadline = Date.now() + 8_000;
    let back: string | undefined = 'rate_limited';
    while (back !== undefined && Date.now() < deadline) {
      back = code(await call('limited'));
      if (back !== undefined) await new Promise((r) => setTimeout(r, 200));
    }
    expect(back).toBeUndefined();
    // Readiness recovers too: each of keyward's Redis connections reconnects on its own backoff,
    // so the probe may lag the first command that succeeds by a moment.
    let readyAgain = (await fetch(`${service.http.baseUrl}/readyz`)).status;
    while (readyAgain !== 200 && Date.now() < deadline + 5_000) {
      await new Promise((r) => setTimeout(r, 200));
      readyAgain = (await fetch(`${service.http.baseUrl}/readyz`)).status;
    }
    expect(readyAgain).toBe(200);
  }, 30_000);
});

describe('PostgreSQL unreachable', () => {
  it('answers audit_unavailable and makes no upstream call; recovers when it is back', async () => {
    expect(code(await call('get_repo', { owner: 'a', repo: 'b' }))).toBeUndefined();
    const port = proxy.port;
    await proxy.cut();
    const before = upstream.requests.length;
    const result = await call('get_repo', { owner: 'a', repo: 'c' });
    expect(code(result)).toBe('audit_unavailable');
    expect(upstream.requests.length).toBe(before);
    await proxy.start(port);
    const deadline = Date.now() + 8_000;
    let again: string | undefined = 'audit_unavailable';
    while (again !== undefined && Date.now() < deadline) {
      again = code(await call('get_repo', { owner: 'a', repo: 'd' }));
      if (again !== undefined) await new Promise((r) => setTimeout(r, 200));
    }
    expect(again).toBeUndefined();
  }, 30_000);
});
