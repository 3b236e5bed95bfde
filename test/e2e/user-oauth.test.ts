/**
 * Acting for each user (issue 16), for real: `keyward serve --http` (the built CLI) with a
 * user-connection credential whose provider is `oidc-provider` on 127.0.0.1, and a protected API
 * that validates every access token by introspection at that provider. Consent is driven by a
 * scripted HTTP client and by headless Chromium. Covers: authorization_required with the start
 * link, then the retry; URL elicitation with the call waiting; two users through one keyward, each
 * reaching the API as themselves whatever the arguments; replayed and stolen `state`, a
 * mismatched user, a wrong redirect_uri and a missing PKCE verifier refused; 50 concurrent calls at
 * refresh time making one token request per user; provider-side revocation → credential_revoked
 * then authorization_required; the token endpoint down → secret_backend_unavailable, fast;
 * `keyward connections list|revoke`; and a canary scan of every sink for every token and the
 * client secret.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startOidc, type OidcFixture } from '../fixtures/oidc.js';
import { browserAvailable, launchBrowser, screenshotPath } from '../helpers/browser.js';
import { findCanary } from '../helpers/canary.js';
import { makeWorkspace, runCli } from '../helpers/cli.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';
import { signIn } from '../helpers/console-client.js';
import { CookieJar, scriptedConsent } from '../helpers/oauth-consent.js';

const CLIENT_SECRET = `kwclientsecret_${generateToken().slice(0, 24)}`;
const TOKENS: Record<string, string> = Object.fromEntries(
  ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'gina@beta', 'nouser'].map((u) => [
    u,
    generateToken(),
  ]),
);
const OPERATOR_TOKEN = generateToken();
const ACCESS_TTL = 6;
const SKEW = 2;

let oidc: OidcFixture;
let dir: string;
let configPath: string;
let replica: Replica;
let origin: string;
const results: CallToolResult[] = [];
const clients: Client[] = [];

async function agentFor(
  user: string,
  options: { url?: boolean } = {},
): Promise<{
  client: Client;
  urls: { url: string; elicitationId: string }[];
}> {
  const client = new Client(
    { name: `user-oauth-${user}`, version: '0' },
    { capabilities: options.url ? { elicitation: { url: {} } } : {} },
  );
  const urls: { url: string; elicitationId: string }[] = [];
  if (options.url)
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      const params = request.params as { mode?: string; url?: string; elicitationId?: string };
      if (params.mode === 'url') urls.push({ url: params.url!, elicitationId: params.elicitationId! });
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

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  const result = (await client.callTool({ name, arguments: args }, undefined, {
    timeout: 60_000,
  })) as CallToolResult;
  results.push(result);
  return result;
}

function errorOf(result: CallToolResult): { code: string; url?: string; retryable: boolean } | undefined {
  return (
    result.structuredContent as { error?: { code: string; url?: string; retryable: boolean } } | undefined
  )?.error;
}

function bodyOf(result: CallToolResult): { user?: string; path?: string; authorization?: string } {
  return (result.structuredContent as { body: { user?: string } }).body;
}

/** Makes `user` connected: a call answers authorization_required, the scripted browser consents. */
async function connect(user: string, client: Client): Promise<void> {
  const first = await call(client, 'whoami');
  expect(errorOf(first)?.code).toBe('authorization_required');
  const done = await scriptedConsent(errorOf(first)!.url!, user);
  expect(done.status, done.body).toBe(200);
  expect(done.body).toContain('Connected');
}

beforeAll(async () => {
  oidc = await startOidc();
  ({ dir, configPath } = await makeWorkspace(
    (d) => ({
      agents: {
        assistant: { roles: ['user'], tenant: 'acme' },
        // another tenant's gina: another person with the same user name
        'assistant-beta': { roles: ['user'], tenant: 'beta' },
      },
      identity: {
        tokens: [
          ...Object.entries(TOKENS)
            .filter(([u]) => u !== 'nouser' && u !== 'gina@beta')
            .map(([user, token]) => ({ agent: 'assistant', sha256: sha256Hex(token), id: user, user })),
          { agent: 'assistant', sha256: sha256Hex(TOKENS.nouser!), id: 'nouser' },
          { agent: 'assistant-beta', sha256: sha256Hex(TOKENS['gina@beta']!), id: 'gina-beta', user: 'gina' },
        ],
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
        providers: {
          test: {
            issuer: oidc.issuer,
            clientId: 'keyward',
            clientSecret: { backend: 'local', ref: 'oauth-client' },
            scopes: ['openid', 'offline_access', 'api'],
            verifyUser: 'idToken',
            refreshSkewSeconds: SKEW,
            timeoutMs: 3000,
          },
        },
        waitSeconds: 60,
      },
      tools: {
        whoami: {
          description: 'who the API thinks I am',
          permission: 'api:read',
          credential: 'me',
          // `as` goes upstream as a query parameter: arguments never choose the token.
          request: { method: 'GET', url: `${oidc.apiOrigin}/whoami`, query: { as: '{as}' } },
          input: { type: 'object', properties: { as: { type: 'string' } } },
        },
        echo: {
          description: 'a careless endpoint that echoes the Authorization header',
          permission: 'api:read',
          credential: 'me',
          request: { method: 'GET', url: `${oidc.apiOrigin}/echo` },
        },
      },
      policy: {
        hideUnusableTools: false,
        rules: [{ id: 'read', effect: 'allow', roles: ['user'], permissions: ['api:read'] }],
      },
      server: { http: { maxInFlightPerPrincipal: 200, maxSessionsPerPrincipal: 64 } },
      console: { operators: [{ name: 'olivia', sha256: sha256Hex(OPERATOR_TOKEN) }] },
      audit: { type: 'sqlite', path: `${d}/audit.db` },
    }),
    { 'oauth-client': CLIENT_SECRET },
  ));
  replica = await startReplica(configPath);
  origin = new URL(replica.url).origin;
  oidc.configure(
    [{ clientId: 'keyward', clientSecret: CLIENT_SECRET, redirectUris: [`${origin}/oauth/callback`] }],
    { accessTokenTtlSeconds: ACCESS_TTL },
  );
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await replica?.stop();
  await oidc?.close();
});

describe('per-user OAuth connections against a real OpenID Connect provider', () => {
  it('without a connection a call answers authorization_required with keyward’s start link; after consent the retry reaches the API as that user', async () => {
    const { client } = await agentFor('alice');
    const first = await call(client, 'whoami');
    const error = errorOf(first)!;
    expect(error.code).toBe('authorization_required');
    expect(error.retryable).toBe(true);
    expect(error.url).toMatch(new RegExp(`^${origin}/oauth/start\\?ticket=[A-Za-z0-9_-]{43}$`));
    const done = await scriptedConsent(error.url!, 'alice');
    expect(done.status, done.body).toBe(200);
    expect(done.body).toContain('Connected');
    const retry = await call(client, 'whoami');
    expect(retry.isError, JSON.stringify(retry)).toBeFalsy();
    expect(bodyOf(retry).user).toBe('alice');
    // The link is single-use.
    const again = await scriptedConsent(error.url!, 'alice');
    expect(again.status).toBe(410);
  });

  it('two users through one keyward each reach the API with their own token, whatever the arguments', async () => {
    const { client: bob } = await agentFor('bob');
    await connect('bob', bob);
    const { client: alice } = await agentFor('alice');
    for (const as of ['alice', 'bob', '../alice', '{user}', 'connections/acme/alice/test']) {
      const b = await call(bob, 'whoami', { as });
      expect(bodyOf(b).user).toBe('bob');
      const a = await call(alice, 'whoami', { as });
      expect(bodyOf(a).user).toBe('alice');
    }
    const calls = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(i % 2 === 0 ? alice : bob, 'whoami', { as: 'alice' })),
    );
    calls.forEach((r, i) => expect(bodyOf(r).user).toBe(i % 2 === 0 ? 'alice' : 'bob'));
    // An identity without a user never gets anyone's token.
    const { client: nobody } = await agentFor('nouser');
    const n = await call(nobody, 'whoami', { as: 'alice' });
    expect(errorOf(n)?.code).toBe('credential_not_found');
    // The API saw only alice and bob, each with their own token.
    expect(new Set(oidc.apiCalls.map((c) => c.user))).toEqual(new Set(['alice', 'bob']));
  });

  it('a replayed state, a state from another browser, and a user mismatch are refused', async () => {
    const { client } = await agentFor('carol');
    // Replay: complete once, then send the same callback again.
    const first = await call(client, 'whoami');
    const jar = new CookieJar();
    const stopped = await scriptedConsent(errorOf(first)!.url!, 'carol', { jar, stopAtCallback: true });
    // Stolen state: another browser (no binding cookie) presents the callback first.
    const stolen = await fetch(stopped.callbackUrl!, { redirect: 'manual' });
    expect(stolen.status).toBe(403);
    expect(await stolen.text()).toContain('another browser');
    // The state was spent by that attempt: even the right browser cannot use it now.
    const late = await fetch(stopped.callbackUrl!, { headers: { cookie: jar.header(stopped.callbackUrl!) } });
    expect(late.status).toBe(400);
    // A complete consent, then its callback replayed.
    const second = await call(client, 'whoami');
    const jar2 = new CookieJar();
    const stopped2 = await scriptedConsent(errorOf(second)!.url!, 'carol', {
      jar: jar2,
      stopAtCallback: true,
    });
    const ok = await fetch(stopped2.callbackUrl!, {
      headers: { cookie: jar2.header(stopped2.callbackUrl!) },
    });
    expect(ok.status).toBe(200);
    const replay = await fetch(stopped2.callbackUrl!, {
      headers: { cookie: jar2.header(stopped2.callbackUrl!) },
    });
    expect(replay.status).toBe(400);
    expect(bodyOf(await call(client, 'whoami')).user).toBe('carol');

    // Mismatch: dave's link consented by erin (an attacker's link sent to a victim, or a victim's
    // link used by an attacker): refused, nothing stored, dave still has no connection.
    const { client: dave } = await agentFor('dave');
    const d = await call(dave, 'whoami');
    const mismatch = await scriptedConsent(errorOf(d)!.url!, 'erin');
    expect(mismatch.status).toBe(403);
    expect(mismatch.body).toContain('someone else');
    expect(errorOf(await call(dave, 'whoami'))?.code).toBe('authorization_required');
  });

  it('the provider refuses a wrong redirect_uri and a code redeemed without the PKCE verifier', async () => {
    const { client } = await agentFor('frank');
    const r = await call(client, 'whoami');
    // The provider's authorization URL, as keyward built it.
    const startRes = await fetch(errorOf(r)!.url!, { redirect: 'manual' });
    expect(startRes.status).toBe(303);
    const authorize = new URL(startRes.headers.get('location')!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${origin}/oauth/callback`);
    const wrong = new URL(authorize);
    wrong.searchParams.set('redirect_uri', `${origin}/oauth/callback/evil`);
    const refused = await fetch(wrong, { redirect: 'manual' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('redirect_uri');

    // A code stolen from the callback cannot be redeemed without the verifier keyward holds.
    const jar = new CookieJar();
    const r2 = await call(client, 'whoami');
    const stopped = await scriptedConsent(errorOf(r2)!.url!, 'frank', { jar, stopAtCallback: true });
    const code = new URL(stopped.callbackUrl!).searchParams.get('code')!;
    const token = await fetch(`${oidc.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`keyward:${CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: `${origin}/oauth/callback`,
      }).toString(),
    });
    expect(token.status).toBe(400);
    expect(((await token.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('URL elicitation: the call waits while the user consents in Chromium, then completes', async () => {
    const { client, urls } = await agentFor('gina', { url: true });
    const pending = call(client, 'whoami');
    const deadline = Date.now() + 15_000;
    while (urls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(urls[0]?.url).toMatch(new RegExp(`^${origin}/oauth/start\\?ticket=`));
    if (browserAvailable) {
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(urls[0]!.url);
        await page.getByLabel('Account').fill('gina');
        await page.screenshot({ path: screenshotPath('user-oauth-provider-login') });
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForSelector('#title');
        expect(await page.textContent('#title')).toBe('Connected');
        await page.screenshot({ path: screenshotPath('user-oauth-connected') });
      } finally {
        await browser.close();
      }
    } else {
      const done = await scriptedConsent(urls[0]!.url, 'gina');
      expect(done.status).toBe(200);
    }
    const result = await pending;
    expect(result.isError, JSON.stringify(result)).toBeFalsy();
    expect(bodyOf(result).user).toBe('gina');
  });

  it('50 concurrent calls at refresh time make exactly one token request per user', async () => {
    const { client: alice } = await agentFor('alice');
    const { client: bob } = await agentFor('bob');
    // Every access token issued so far is due once ACCESS_TTL − SKEW has passed.
    await new Promise((r) => setTimeout(r, ACCESS_TTL * 1000 + 300));
    const before = { alice: oidc.counts.refresh.get('alice') ?? 0, bob: oidc.counts.refresh.get('bob') ?? 0 };
    const started = Date.now();
    const all = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(i % 2 === 0 ? alice : bob, 'whoami')),
    );
    expect(Date.now() - started).toBeLessThan((ACCESS_TTL - SKEW) * 1000);
    all.forEach((r, i) => {
      expect(r.isError, JSON.stringify(r)).toBeFalsy();
      expect(bodyOf(r).user).toBe(i % 2 === 0 ? 'alice' : 'bob');
    });
    expect((oidc.counts.refresh.get('alice') ?? 0) - before.alice).toBe(1);
    expect((oidc.counts.refresh.get('bob') ?? 0) - before.bob).toBe(1);
  }, 30_000);

  it('the token endpoint down gives secret_backend_unavailable (retryable), fast', async () => {
    const { client } = await agentFor('carol');
    await new Promise((r) => setTimeout(r, ACCESS_TTL * 1000 + 300));
    oidc.tokenEndpointDown(true);
    try {
      const started = Date.now();
      const r = await call(client, 'whoami');
      expect(errorOf(r)?.code).toBe('secret_backend_unavailable');
      expect(errorOf(r)?.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      oidc.tokenEndpointDown(false);
    }
    expect(bodyOf(await call(client, 'whoami')).user).toBe('carol');
  }, 30_000);

  it('a revocation at the provider mid-task gives credential_revoked, then authorization_required', async () => {
    const { client } = await agentFor('bob');
    expect(bodyOf(await call(client, 'whoami')).user).toBe('bob');
    expect(await oidc.revokeAccount('bob')).toBeGreaterThan(0);
    const revoked = await call(client, 'whoami');
    expect(errorOf(revoked)?.code).toBe('credential_revoked');
    const next = await call(client, 'whoami');
    expect(errorOf(next)?.code).toBe('authorization_required');
    // alice is untouched.
    const { client: alice } = await agentFor('alice');
    expect(bodyOf(await call(alice, 'whoami')).user).toBe('alice');
  });

  it('keyward connections list and revoke (revoked at the provider too), audited', async () => {
    const list = await runCli(['connections', 'list', '--json', '--config', configPath]);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { user: string; tenant: string; provider: string }[];
    expect(rows.map((r) => r.user).sort()).toEqual(['alice', 'carol', 'gina']);
    expect(rows.every((r) => r.tenant === 'acme' && r.provider === 'test')).toBe(true);
    const revoke = await runCli(['connections', 'revoke', '--user', 'alice', '--config', configPath]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain('also revoked at the provider');
    const after = await runCli(['connections', 'list', '--json', '--user', 'alice', '--config', configPath]);
    expect(JSON.parse(after.stdout)).toEqual([]);
    // The running server: the API now refuses the old token → credential_revoked → a new link.
    const { client } = await agentFor('alice');
    const r = await call(client, 'whoami');
    expect(['credential_revoked', 'authorization_required']).toContain(errorOf(r)?.code);
    expect(errorOf(await call(client, 'whoami'))?.code).toBe('authorization_required');
    for (const type of [
      'connection.connected',
      'connection.revoked',
      'connection.refresh_failed',
      'connection.refused',
    ]) {
      const audit = await runCli(['audit', 'query', '--json', '--type', type, '--config', configPath]);
      expect(audit.stdout.includes(`"type":"${type}"`), type).toBe(true);
    }
  });

  it('the approval console lists connections (never a token) and an operator revokes one', async () => {
    // gina of tenant beta is another person who connected her own account.
    const { client: ginaBeta } = await agentFor('gina@beta');
    const first = await call(ginaBeta, 'whoami');
    expect(errorOf(first)?.code).toBe('authorization_required');
    expect((await scriptedConsent(errorOf(first)!.url!, 'gina')).status).toBe(200);
    expect(bodyOf(await call(ginaBeta, 'whoami')).user).toBe('gina');
    const beta = await runCli(['connections', 'list', '--json', '--tenant', 'beta', '--config', configPath]);
    expect((JSON.parse(beta.stdout) as { user: string }[]).map((r) => r.user)).toEqual(['gina']);

    const operator = await signIn(origin, OPERATOR_TOKEN);
    const page = await operator.get('/console/connections');
    expect(page.status).toBe(200);
    expect(page.html).toContain('carol');
    // The operator presses Revoke on the row of gina of acme: the form is sent as the page has it.
    const row = page.html
      .split('<tr>')
      .find((r) => r.includes('<td>gina</td>') && r.includes('<td>acme</td>'));
    expect(row).toBeDefined();
    const fields = Object.fromEntries(
      [...row!.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)]
        .filter((m) => m[1] !== 'csrf')
        .map((m) => [m[1]!, m[2]!]),
    );
    const revoked = await operator.post('/console/connections/revoke', fields, {
      pagePath: '/console/connections',
    });
    expect(revoked.status).toBe(303);
    const after = await operator.get('/console/connections');
    expect(after.html).toContain('carol');
    const rows = after.html.split('<tr>');
    expect(rows.some((r) => r.includes('<td>gina</td>') && r.includes('<td>acme</td>'))).toBe(false);
    // Before the security review of 2026-12-05 the row's Revoke named only user and provider, and
    // removed gina of every tenant.
    expect(rows.some((r) => r.includes('<td>gina</td>') && r.includes('<td>beta</td>'))).toBe(true);
    expect(bodyOf(await call(ginaBeta, 'whoami')).user).toBe('gina');
    // Without the session's CSRF token nothing changes.
    const forged = await operator.post(
      '/console/connections/revoke',
      { credential: 'me', ref: 'connections/acme/carol/test' },
      { csrf: null },
    );
    expect(forged.status).toBe(403);
    const audit = await runCli([
      'audit',
      'query',
      '--json',
      '--type',
      'connection.revoked',
      '--config',
      configPath,
    ]);
    expect(audit.stdout).toContain('operator:olivia');
    const { client } = await agentFor('gina');
    const r = await call(client, 'whoami');
    expect(['credential_revoked', 'authorization_required']).toContain(errorOf(r)?.code);
  });

  it('no sink holds the client secret, a refresh token, an access token or a code', async () => {
    const echo = await call((await agentFor('carol')).client, 'echo');
    expect(echo.isError, JSON.stringify(echo)).toBeFalsy();
    expect(bodyOf(echo).authorization).toContain('[REDACTED]');
    const secrets = [CLIENT_SECRET, ...oidc.issuedTokens()];
    expect(secrets.length).toBeGreaterThan(20);
    const audit = await runCli(['audit', 'query', '--json', '--limit', '10000', '--config', configPath]);
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('audit') && statSync(path.join(dir, f)).isFile())
      .map((f) => readFileSync(path.join(dir, f)));
    const sinks: [string, string | Buffer][] = [
      ['server log', replica.stderr()],
      ['results', JSON.stringify(results)],
      ['audit query', audit.stdout],
      ...files.map((f, i): [string, Buffer] => [`audit file ${i}`, f]),
    ];
    for (const [name, sink] of sinks)
      for (const secret of secrets) expect(findCanary(sink, secret), `${name}`).toEqual([]);
  });
});
