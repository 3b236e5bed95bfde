/**
 * User connections behind a load balancer (issue 16): two `serve --http` replicas share the token
 * vault (one encrypted file store) and the consent state through Redis (a random key prefix on the
 * machine's Redis, sealed under cache.encryptionKey). A round-robin proxy stands in for the load
 * balancer, so `/oauth/start` and `/oauth/callback` land on different replicas. A call waiting on
 * one replica completes with a consent served by the other; a user connected anywhere is served
 * everywhere; a replayed `state` is refused on either replica; and concurrent calls on both
 * replicas at refresh time make one token request for the user (the provider rotates refresh
 * tokens and revokes the grant if an old one is replayed, so two refreshes would break it).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startOidc, type OidcFixture } from '../fixtures/oidc.js';
import { makeWorkspace } from '../helpers/cli.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';
import { CookieJar, scriptedConsent } from '../helpers/oauth-consent.js';

const CLIENT_SECRET = `kwclientsecret_${generateToken().slice(0, 24)}`;
const TOKENS = { alice: generateToken(), bob: generateToken() };
const keyPrefix = `kwtest:useroauth:${randomBytes(4).toString('hex')}:`;
const env = { KW_TEST_CACHE_KEY: randomBytes(32).toString('base64') };
const ACCESS_TTL = 6;

let oidc: OidcFixture;
let a: Replica;
let b: Replica;
let balancer: Server;
let publicUrl: string;
/** Which replica served each /oauth request, in order. */
const served: { path: string; replica: 'a' | 'b' }[] = [];
const clients: Client[] = [];

async function agentOn(replica: Replica, user: 'alice' | 'bob', url = false) {
  const client = new Client(
    { name: `replica-${user}`, version: '0' },
    { capabilities: url ? { elicitation: { url: {} } } : {} },
  );
  const urls: string[] = [];
  if (url)
    client.setRequestHandler(ElicitRequestSchema, (r) => {
      urls.push(String((r.params as { url?: string }).url));
      return { action: 'accept' };
    });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replica.url), {
      requestInit: { headers: { Authorization: `Bearer ${TOKENS[user]}` } },
    }),
  );
  clients.push(client);
  return { client, urls };
}

const call = async (client: Client): Promise<CallToolResult> =>
  (await client.callTool({ name: 'whoami', arguments: {} }, undefined, {
    timeout: 60_000,
  })) as CallToolResult;
const errorOf = (r: CallToolResult) =>
  (r.structuredContent as { error?: { code: string; url?: string } } | undefined)?.error;
const userOf = (r: CallToolResult) =>
  (r.structuredContent as { body?: { user?: string } } | undefined)?.body?.user;

/** A round-robin reverse proxy: request n goes to replica A when n is even, B when odd. */
function startBalancer(): Promise<Server> {
  let n = 0;
  const server = createServer((req, res) => {
    const target = n++ % 2 === 0 ? a : b;
    served.push({ path: (req.url ?? '').split('?')[0]!, replica: target === a ? 'a' : 'b' });
    const url = new URL(target.url);
    const upstream = request(
      { host: url.hostname, port: url.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  oidc = await startOidc();
  balancer = await startBalancer();
  publicUrl = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;
  const { configPath } = await makeWorkspace(
    (d) => ({
      agents: { assistant: { roles: ['user'], tenant: 'acme' } },
      identity: {
        tokens: Object.entries(TOKENS).map(([user, token]) => ({
          agent: 'assistant',
          sha256: sha256Hex(token),
          id: user,
          user,
        })),
      },
      backends: { local: { type: 'file', path: `${d}/secrets.enc`, keyPath: `${d}/master.key` } },
      credentials: {
        me: {
          backend: 'local',
          ref: 'connections/{tenant}/{user}/test',
          connection: 'test',
          inject: { type: 'bearer' },
          origins: [oidc.apiOrigin],
          cacheTtlSeconds: 5,
        },
      },
      connections: {
        publicUrl,
        providers: {
          test: {
            issuer: oidc.issuer,
            clientId: 'keyward',
            clientSecret: { backend: 'local', ref: 'oauth-client' },
            scopes: ['openid', 'offline_access', 'api'],
            verifyUser: 'idToken',
            refreshSkewSeconds: 2,
          },
        },
        waitSeconds: 60,
      },
      tools: {
        whoami: {
          permission: 'api:read',
          credential: 'me',
          request: { method: 'GET', url: `${oidc.apiOrigin}/whoami` },
        },
      },
      policy: { rules: [{ id: 'read', effect: 'allow', roles: ['user'], permissions: ['api:read'] }] },
      cache: {
        type: 'redis',
        url: 'redis://127.0.0.1:6379',
        keyPrefix,
        encryptionKey: { env: 'KW_TEST_CACHE_KEY' },
      },
      server: { http: { maxInFlightPerPrincipal: 100 } },
      audit: { type: 'sqlite', path: `${d}/audit.db` },
    }),
    { 'oauth-client': CLIENT_SECRET },
  );
  [a, b] = await Promise.all([startReplica(configPath, env), startReplica(configPath, env)]);
  oidc.configure(
    [{ clientId: 'keyward', clientSecret: CLIENT_SECRET, redirectUris: [`${publicUrl}/oauth/callback`] }],
    { accessTokenTtlSeconds: ACCESS_TTL },
  );
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await Promise.all([a?.stop(), b?.stop()]);
  balancer?.closeAllConnections();
  await new Promise((r) => balancer?.close(r));
  await oidc?.close();
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('user connections across two replicas with Redis', () => {
  it('a call waiting on replica A completes with a consent whose start and callback hit different replicas', async () => {
    const { client, urls } = await agentOn(a, 'alice', true);
    const pending = call(client);
    const deadline = Date.now() + 15_000;
    while (urls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(urls[0]).toMatch(new RegExp(`^${publicUrl}/oauth/start\\?ticket=`));
    const before = served.length;
    const done = await scriptedConsent(urls[0]!, 'alice');
    expect(done.status, done.body).toBe(200);
    const hops = served.slice(before);
    const start = hops.find((h) => h.path === '/oauth/start')!;
    const callback = hops.find((h) => h.path === '/oauth/callback')!;
    expect(start.replica).not.toBe(callback.replica);
    const result = await pending;
    expect(userOf(result), JSON.stringify(result)).toBe('alice');
  });

  it('a user connected through one replica is served by both; a replayed state is refused on either', async () => {
    const onB = await agentOn(b, 'bob');
    const link = errorOf(await call(onB.client))!.url!;
    const jar = new CookieJar();
    const stopped = await scriptedConsent(link, 'bob', { jar, stopAtCallback: true });
    const first = await fetch(stopped.callbackUrl!, {
      headers: { cookie: jar.header(stopped.callbackUrl!) },
    });
    expect(first.status).toBe(200);
    const replay = await fetch(stopped.callbackUrl!, {
      headers: { cookie: jar.header(stopped.callbackUrl!) },
    });
    expect(replay.status).toBe(400);
    const onA = await agentOn(a, 'bob');
    expect(userOf(await call(onA.client))).toBe('bob');
    expect(userOf(await call(onB.client))).toBe('bob');
  });

  it('concurrent calls on both replicas at refresh time make one token request for the user', async () => {
    const onA = await agentOn(a, 'alice');
    const onB = await agentOn(b, 'alice');
    await new Promise((r) => setTimeout(r, ACCESS_TTL * 1000 + 300));
    const before = oidc.counts.refresh.get('alice') ?? 0;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(i % 2 === 0 ? onA.client : onB.client)),
    );
    for (const r of results) expect(userOf(r), JSON.stringify(r)).toBe('alice');
    expect((oidc.counts.refresh.get('alice') ?? 0) - before).toBe(1);
    // The rotated refresh token was written back: the next refresh (on either replica) works.
    await new Promise((r) => setTimeout(r, ACCESS_TTL * 1000 + 300));
    expect(userOf(await call(onB.client))).toBe('alice');
    expect(userOf(await call(onA.client))).toBe('alice');
  }, 40_000);
});
