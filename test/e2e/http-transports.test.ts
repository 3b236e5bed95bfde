/**
 * Remote mode end to end over real sockets on 127.0.0.1: Streamable HTTP and legacy SSE with the
 * SDK clients and bearer tokens (static and JWT), a secured call, a structured denial, an
 * elicitation round trip, and every refusal (401/403/400/404/413) without a backend read.
 */
import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { SecretRegistry, silentLogger } from '../../src/observability/logger.js';
import { startHttpService, type HttpService } from '../../src/transports/serve-http.js';
import { JwtIssuer } from '../fixtures/jwt-issuer.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_test_http_5e1f9a2c7b3d8e4f6a0c1b2d';
const TOKEN_A = generateToken();
const TOKEN_B = generateToken();

let upstream: Upstream;
let issuer: JwtIssuer;
let service: HttpService;
let base: string;
let resource: string;
const clients: Client[] = [];
let elicitations = 0;

function reads(): number {
  return service.gateway.parts.resolver.stats().reads + service.gateway.parts.resolver.stats().hits;
}

function structuredError(result: unknown): Record<string, unknown> {
  const r = result as CallToolResult;
  expect(r.isError).toBe(true);
  return (r.structuredContent as { error: Record<string, unknown> }).error;
}

async function connect(kind: 'http' | 'sse', token: string, elicit = true): Promise<Client> {
  const headers = { Authorization: `Bearer ${token}` };
  const transport =
    kind === 'http'
      ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } })
      : new SSEClientTransport(new URL(`${base}/sse`), {
          requestInit: { headers },
          eventSourceInit: {
            fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...headers } }),
          },
        });
  const client = new Client(
    { name: 'keyward-e2e', version: '0.0.0' },
    { capabilities: elicit ? { elicitation: { form: {} } } : {} },
  );
  client.setRequestHandler(ElicitRequestSchema, (req) => {
    expect(req.params.message).toContain('api:write');
    elicitations++;
    return { action: 'accept', content: { approve: true } };
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

/** A raw request with full control over Host and other headers. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        // SSE streams never end by themselves.
        if (String(res.headers['content-type']).includes('text/event-stream')) {
          setTimeout(() => {
            res.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          }, 200);
        }
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
});
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  issuer = await JwtIssuer.create();
  const jwksUri = await issuer.serve();
  const { dir, configPath } = await makeWorkspace(
    (d) => {
      const config = coreConfig(d, upstream.origin) as Record<string, unknown> & {
        policy: { rules: unknown[] };
      };
      return {
        ...config,
        agents: {
          local: { roles: ['owner'], tenant: 'default' },
          other: { roles: ['owner'], tenant: 'default' },
        },
        identity: {
          tokens: [
            { agent: 'local', sha256: sha256Hex(TOKEN_A), id: 'a' },
            { agent: 'other', sha256: sha256Hex(TOKEN_B), id: 'b' },
          ],
          jwt: { issuers: [issuer.issuer], audience: 'http://127.0.0.1/mcp-placeholder', jwksUri },
        },
        policy: {
          hideUnusableTools: false,
          rules: [
            { id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] },
            {
              id: 'write',
              effect: 'approve',
              roles: ['owner'],
              permissions: ['api:write'],
              grantTtlSeconds: 60,
              grantMaxCalls: 1,
              // elicitation may approve: the test's client stands for a person (HTTP default: operator)
              approval: 'any',
            },
            { id: 'no-admin', effect: 'deny', permissions: ['admin:*'] },
          ],
        },
        server: { http: { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024, metricsToolNames: true } },
        logging: { level: 'silent' },
      };
    },
    { api: KEY },
  );
  // The JWT audience must be this server's resource URL, known only once the port is: bind a
  // fixed spare port through publicUrl.
  const probe = await import('../helpers/private-redis.js');
  const port = await probe.sparePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  const raw = JSON.parse((await import('node:fs')).readFileSync(configPath, 'utf8')) as {
    identity: { jwt: { audience: string } };
    server: { http: Record<string, unknown> };
  };
  raw.identity.jwt.audience = resource;
  raw.server.http = { ...raw.server.http, port, publicUrl: resource };
  const loaded = parseConfig(raw, configPath, dir);
  service = await startHttpService(loaded, {
    logger: silentLogger(),
    secrets: new SecretRegistry(),
    processMetrics: false,
  });
  base = service.http.baseUrl;
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await service?.shutdown(1_000);
  await upstream?.close();
  await issuer?.close();
});

for (const kind of ['http', 'sse'] as const) {
  describe(`${kind === 'http' ? 'Streamable HTTP' : 'legacy SSE'} with a bearer token`, () => {
    it('lists tools, makes a secured call, and never forwards the inbound token', async () => {
      const client = await connect(kind, TOKEN_A);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['get_repo', 'create_item']));
      const before = upstream.requests.length;
      const result = (await client.callTool({
        name: 'get_repo',
        arguments: { owner: 'acme', repo: 'w' },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect((result.structuredContent as { body: unknown }).body).toEqual({
        owner: 'acme',
        repo: 'w',
        stars: 42,
      });
      const seen = upstream.requests.slice(before);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(JSON.stringify(seen)).not.toContain(TOKEN_A);
      expect(JSON.stringify(result)).not.toContain(KEY);
    });

    it('answers a policy denial as a structured error', async () => {
      const client = await connect(kind, TOKEN_A);
      const e = structuredError(
        await client.callTool({ name: 'forbidden_read', arguments: { owner: 'a', repo: 'b' } }),
      );
      expect(e).toMatchObject({ code: 'permission_denied', retryable: false, tool: 'forbidden_read' });
    });

    it('asks the human through elicitation and proceeds on accept', async () => {
      const client = await connect(kind, TOKEN_A);
      const before = upstream.requests.length;
      const asked = elicitations;
      const result = (await client.callTool({
        name: 'create_item',
        arguments: { name: `n-${kind}` },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(elicitations).toBe(asked + 1);
      expect(upstream.requests.length).toBe(before + 1);
    });

    it('refuses a session id replayed by another principal', async () => {
      const client = await connect(kind, TOKEN_A);
      await client.listTools();
      const transport = client.transport as StreamableHTTPClientTransport | SSEClientTransport;
      const sessionId = (transport as { sessionId?: string }).sessionId ?? ssePostSession(transport);
      expect(sessionId).toBeTruthy();
      const list = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' });
      const headers = { ...MCP_HEADERS, authorization: `Bearer ${TOKEN_B}` };
      const res =
        kind === 'http'
          ? await raw(
              'POST',
              '/mcp',
              { ...headers, 'mcp-session-id': sessionId!, 'mcp-protocol-version': '2025-06-18' },
              list,
            )
          : await raw('POST', `/messages?sessionId=${sessionId!}`, headers, list);
      expect(res.status).toBe(403);
      // The owner still works.
      await client.listTools();
    });
  });
}

function ssePostSession(transport: unknown): string | undefined {
  const endpoint = (transport as { _endpoint?: URL })._endpoint;
  return endpoint?.searchParams.get('sessionId') ?? undefined;
}

describe('JWT bearer tokens', () => {
  it('serves a client with a valid JWT whose audience is this server', async () => {
    const token = await issuer.mint(resource, {
      sub: 'local',
      claims: { tenant: 'default', roles: ['owner'] },
    });
    const client = await connect('http', token);
    const result = (await client.callTool({
      name: 'get_repo',
      arguments: { owner: 'o', repo: 'r' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
  });
});

describe('a session follows its principal (issue 12 §5)', () => {
  it('a demoted user loses the role on the next call of the same session; a tenant change ends it', async () => {
    const mint = (claims: Record<string, unknown>): Promise<string> =>
      issuer.mint(resource, { sub: 'local', claims: { tenant: 'default', ...claims } });
    const headers: Record<string, string> = { Authorization: `Bearer ${await mint({ roles: ['owner'] })}` };
    // The SDK transport reads requestInit.headers on every request: swapping the token mid-session is
    // what a client refreshing its token does.
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } });
    const client = new Client({ name: 'demoted', version: '0.0.0' });
    await client.connect(transport);
    clients.push(client);
    const call = async (): Promise<CallToolResult> =>
      (await client.callTool({ name: 'get_repo', arguments: { owner: 'o', repo: 'r' } })) as CallToolResult;
    expect((await call()).isError).toBeFalsy();

    headers.Authorization = `Bearer ${await mint({ roles: ['viewer'] })}`;
    const demoted = await call();
    expect(demoted.isError).toBe(true);
    expect((demoted.structuredContent as { error: { code: string } }).error.code).toBe('permission_denied');

    headers.Authorization = `Bearer ${await mint({ roles: ['owner'], tenant: 'elsewhere' })}`;
    await expect(call()).rejects.toThrow(/403|principal of this session changed/);
  });
});

describe('refusals, with no backend read and no upstream call', () => {
  const cases: [string, () => Promise<Record<string, string>>, number][] = [
    ['no token', async () => ({}), 401],
    ['unknown static token', async () => ({ authorization: `Bearer ${generateToken()}` }), 401],
    [
      'wrong audience',
      async () => ({ authorization: `Bearer ${await issuer.mint('https://elsewhere.example/mcp')}` }),
      401,
    ],
    [
      'expired token',
      async () => ({ authorization: `Bearer ${await issuer.mint(resource, { expiresIn: -120 })}` }),
      401,
    ],
    ['alg none', async () => ({ authorization: `Bearer ${issuer.unsigned(resource)}` }), 401],
    [
      'foreign Origin',
      async () => ({ authorization: `Bearer ${TOKEN_A}`, origin: 'http://evil.example' }),
      403,
    ],
    ['foreign Host', async () => ({ authorization: `Bearer ${TOKEN_A}`, host: 'evil.example' }), 403],
  ];
  for (const [name, headers, status] of cases) {
    it(`${name} → ${status}`, async () => {
      const readsBefore = reads();
      const upstreamBefore = upstream.requests.length;
      const extra = await headers();
      for (const [method, path, body] of [
        ['POST', '/mcp', INIT],
        ['GET', '/sse', undefined],
        ['POST', '/messages?sessionId=x', INIT],
      ] as const) {
        const res = await raw(method, path, { ...MCP_HEADERS, ...extra }, body);
        expect(res.status, `${method} ${path}`).toBe(status);
        if (status === 401) {
          expect(res.headers['www-authenticate']).toContain(
            `resource_metadata="http://127.0.0.1:${new URL(resource).port}/.well-known/oauth-protected-resource/mcp"`,
          );
        }
        expect(res.body).not.toContain(extra.authorization?.slice(7) ?? '\u0000');
      }
      expect(reads()).toBe(readsBefore);
      expect(upstream.requests.length).toBe(upstreamBefore);
    });
  }

  it('serves the RFC 9728 protected-resource metadata', async () => {
    const res = await raw('GET', '/.well-known/oauth-protected-resource/mcp', {});
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ resource, authorization_servers: [issuer.issuer] });
  });
});

describe('protocol and session edges', () => {
  const auth = { ...MCP_HEADERS, authorization: `Bearer ${TOKEN_A}` };

  it('needs a session id on non-initialize requests (400), 404 for an unknown one', async () => {
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect((await raw('POST', '/mcp', auth, list)).status).toBe(400);
    expect((await raw('POST', '/mcp', { ...auth, 'mcp-session-id': 'nope' }, list)).status).toBe(404);
    expect((await raw('POST', '/messages', auth, list)).status).toBe(400);
    expect((await raw('POST', '/messages?sessionId=nope', auth, list)).status).toBe(404);
    expect((await raw('POST', '/messages?sessionId=', auth, list)).status).toBe(400);
    expect((await raw('POST', '/messages?sessionId=a&sessionId=b', auth, list)).status).toBe(400);
  });

  it('ends a session on DELETE', async () => {
    const init = await raw('POST', '/mcp', auth, INIT);
    expect(init.status).toBe(200);
    const sessionId = init.headers['mcp-session-id'] as string;
    expect(sessionId).toMatch(/^[\x21-\x7e]{32,}$/);
    const withSession = { ...auth, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' };
    expect((await raw('DELETE', '/mcp', withSession)).status).toBe(200);
    const list = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expect((await raw('POST', '/mcp', withSession, list)).status).toBe(404);
  });

  it('refuses a body over the limit with 413 and malformed JSON with 400', async () => {
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { pad: 'x'.repeat(100 * 1024) },
    });
    for (const path of ['/mcp', '/messages?sessionId=x']) {
      expect((await raw('POST', path, auth, big)).status, path).toBe(413);
      const bad = await raw('POST', path, auth, '{"jsonrpc":');
      expect(bad.status, path).toBe(400);
      expect(bad.body, path).toContain('-32700');
    }
  });

  it('answers a body it cannot decode with a 4xx, not 500 (bad gzip, unknown encoding)', async () => {
    for (const path of ['/mcp', '/messages?sessionId=x']) {
      const bad = await raw('POST', path, { ...auth, 'content-encoding': 'gzip' }, INIT);
      expect(bad.status, path).toBe(400);
      expect(bad.body, path).toContain('could not be read');
      expect((await raw('POST', path, { ...auth, 'content-encoding': 'x-foo' }, INIT)).status, path).toBe(
        415,
      );
    }
  });

  it('/readyz does not probe the backends on every request (issue 14)', async () => {
    const audit = service.gateway.parts.audit;
    const original = audit.probe.bind(audit);
    let probes = 0;
    (audit as { probe: typeof audit.probe }).probe = () => {
      probes++;
      return original();
    };
    try {
      await new Promise((r) => setTimeout(r, 2_100)); // past any answer cached by an earlier test
      const answers = await Promise.all(Array.from({ length: 50 }, () => raw('GET', '/readyz', {})));
      for (let i = 0; i < 50; i++) answers.push(await raw('GET', '/readyz', {}));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(probes).toBe(1);
    } finally {
      (audit as { probe: typeof audit.probe }).probe = original;
    }
  });

  it('serves /healthz, /readyz and /metrics without secrets', async () => {
    expect((await raw('GET', '/healthz', { host: 'anything.example' })).status).toBe(200);
    const ready = await raw('GET', '/readyz', {});
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({
      status: 'ready',
      components: { cache: true, audit: true },
    });
    const metrics = await raw('GET', '/metrics', {});
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/keyward_tool_calls_total\{tool="get_repo",outcome="ok"\} [1-9]/);
    expect(metrics.body).toMatch(/keyward_denials_total\{code="permission_denied"\} [1-9]/);
    expect(metrics.body).toMatch(/keyward_http_auth_failures_total\{reason="missing_token"\} [1-9]/);
    expect(metrics.body).toContain('keyward_credential_cache_hit_ratio');
    expect(metrics.body).toContain('keyward_secret_backend_breaker_state{backend="local"} 0');
    for (const secret of [KEY, TOKEN_A, TOKEN_B]) expect(metrics.body).not.toContain(secret);
  });
});
