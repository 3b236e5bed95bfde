/**
 * End to end over real stdio (the built CLI, as the other e2e tests use it): `keyward import openapi`
 * writes tools and an OAuth2 client-credentials credential; `keyward serve` then calls a local API
 * whose tokens come from a local token endpoint. Parameters must land in the right place, encoded;
 * one token request serves many calls; an upstream 401 forces exactly one refresh; no secret leaks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectStdio, mainJs, makeWorkspace, runCli, type StdioSession } from '../../helpers/cli.js';
import { json, startTokenServer, type TokenServer } from '../oauth2/token-server.js';

const CLIENT_SECRET = 'cs-e2e-secret-8c1f0a9d3b';
let tokens: TokenServer;
let api: Server;
let apiOrigin: string;
let session: StdioSession | undefined;
let configPath: string;
/** The access tokens the API currently accepts. */
const acceptedTokens = new Set<string>();
const apiRequests: { url: string; headers: Record<string, string | string[] | undefined>; body: string }[] =
  [];
let issued = 0;

const built = existsSync(mainJs);

beforeAll(async () => {
  if (!built) return;
  tokens = await startTokenServer(async (req, res) => {
    const auth = Buffer.from(
      String(req.headers.authorization ?? '').replace(/^Basic /, ''),
      'base64',
    ).toString();
    if (auth !== `shop-client:${CLIENT_SECRET}` || req.form.get('grant_type') !== 'client_credentials') {
      json(res, 401, { error: 'invalid_client' });
      return;
    }
    await new Promise((r) => setTimeout(r, 30));
    issued++;
    const token = `e2e-access-${issued}-f00dfeed`;
    acceptedTokens.add(token);
    json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
  });
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      apiRequests.push({ url: req.url ?? '', headers: req.headers, body });
      const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!acceptedTokens.has(token)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid_token"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      // a hostile upstream echoes the token back
      res.end(JSON.stringify({ ok: true, path: req.url, echo: req.headers.authorization }));
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiOrigin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  ({ configPath } = await makeWorkspace(() => ({
    agents: { local: { roles: ['owner'], tenant: 'default' } },
    identity: { stdio: { agent: 'local' } },
    backends: { local: { type: 'file', path: './secrets.enc', keyPath: './master.key' } },
    policy: { rules: [{ id: 'shop', effect: 'allow', roles: ['owner'], permissions: ['shop:*'] }] },
    audit: { type: 'sqlite', path: './audit.db' },
    grants: { store: 'memory' },
  })));
  const dir = path.dirname(configPath);
  const spec = [
    'openapi: 3.0.3',
    'info: { title: Shop, version: "1" }',
    `servers: [{ url: "${apiOrigin}/v1" }]`,
    'security: [{ machine: [items.read] }]',
    'components:',
    '  securitySchemes:',
    '    machine:',
    '      type: oauth2',
    '      flows:',
    `        clientCredentials: { tokenUrl: "${tokens.url}", scopes: { items.read: read } }`,
    'paths:',
    '  /items/{id}:',
    '    get:',
    '      operationId: getItem',
    '      tags: [items]',
    '      parameters:',
    '        - { name: id, in: path, required: true, schema: { type: string } }',
    '        - { name: q, in: query, schema: { type: string } }',
    '        - { name: X-Trace, in: header, schema: { type: string } }',
    '  /items:',
    '    post:',
    '      operationId: createItem',
    '      tags: [items]',
    '      requestBody:',
    '        required: true',
    '        content:',
    '          application/json:',
    '            schema: { type: object, required: [name], properties: { name: { type: string }, qty: { type: integer } } }',
  ].join('\n');
  writeFileSync(path.join(dir, 'shop.yaml'), spec);
  const imported = await runCli([
    'import',
    'openapi',
    path.join(dir, 'shop.yaml'),
    '--credential',
    'shop',
    '--permission-prefix',
    'shop',
    '--config',
    configPath,
  ]);
  if (imported.code !== 0) throw new Error(`import failed: ${imported.stderr}`);
  const secret = JSON.stringify({ client_id: 'shop-client', client_secret: CLIENT_SECRET });
  const set = await runCli(['secrets', 'set', 'shop', '--config', configPath], { input: secret });
  if (set.code !== 0) throw new Error(`secrets set failed: ${set.stderr}`);
  session = await connectStdio(configPath);
}, 60_000);

afterAll(async () => {
  await session?.close();
  await tokens?.close();
  await new Promise((r) => (api ? api.close(r) : r(undefined)));
});

describe.skipIf(!built)('an imported OpenAPI tool with OAuth2 client credentials, over stdio', () => {
  it('the import wrote the tools and the oauth2 credential', () => {
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
      credentials: Record<string, unknown>;
      tools: Record<string, unknown>;
    };
    expect(config.credentials.shop).toMatchObject({
      inject: { type: 'oauth2-client-credentials', tokenUrl: tokens.url, scopes: ['items.read'] },
      origins: [apiOrigin, tokens.origin],
    });
    expect(Object.keys(config.tools).sort()).toEqual(['createItem', 'getItem']);
  });

  it('parameters land in the right place, encoded, with a bearer token from the token endpoint', async () => {
    const result = (await session!.client.callTool({
      name: 'getItem',
      arguments: { id: 'a/b c', q: 'x&y=z', 'X-Trace': 'trace-1' },
    })) as CallToolResult;
    expect(result.isError, JSON.stringify(result)).toBeFalsy();
    const seen = apiRequests.at(-1)!;
    expect(seen.url).toBe('/v1/items/a%2Fb%20c?q=x%26y%3Dz');
    expect(seen.headers['x-trace']).toBe('trace-1');
    expect(seen.headers.authorization).toBe('Bearer e2e-access-1-f00dfeed');
    const text = JSON.stringify(result);
    expect(text).not.toContain('e2e-access-1-f00dfeed');
    expect(text).not.toContain(CLIENT_SECRET);

    const created = (await session!.client.callTool({
      name: 'createItem',
      arguments: { name: 'widget', qty: 3 },
    })) as CallToolResult;
    expect(created.isError).toBeFalsy();
    expect(JSON.parse(apiRequests.at(-1)!.body)).toEqual({ name: 'widget', qty: 3 });
  });

  it('many concurrent calls share one token; an upstream 401 forces exactly one refresh', async () => {
    const before = tokens.requests.length;
    const calls = Array.from({ length: 8 }, (_, i) =>
      session!.client.callTool({ name: 'getItem', arguments: { id: `n${i}` } }),
    );
    const results = (await Promise.all(calls)) as CallToolResult[];
    for (const r of results) expect(r.isError).toBeFalsy();
    expect(tokens.requests.length).toBe(before); // cached token reused

    acceptedTokens.clear(); // the API revokes every token it issued
    const after401 = (await session!.client.callTool({
      name: 'getItem',
      arguments: { id: 'x' },
    })) as CallToolResult;
    expect(after401.isError, JSON.stringify(after401)).toBeFalsy();
    expect(tokens.requests.length).toBe(before + 1);
    expect(apiRequests.at(-1)!.headers.authorization).toBe(`Bearer e2e-access-${issued}-f00dfeed`);
    expect(session!.stderr()).not.toContain(CLIENT_SECRET);
    expect(session!.stderr()).not.toContain('f00dfeed');
  });
});
