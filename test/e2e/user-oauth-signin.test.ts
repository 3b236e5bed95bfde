/**
 * The consent binding with `verifyUser: "signIn"` (issue 16), the mode for providers that cannot
 * say who consented (GitHub): before keyward sends a browser to the provider, the person signs in
 * to keyward at its identity provider (here the same `oidc-provider`, as a second client), and
 * the signed-in user must be the link's user. Driven in headless Chromium (two separate browser
 * contexts: two people) and with the scripted client:
 * - alice opens her own link: signs in as alice, consents, her waiting call continues;
 * - an attacker (mallory) sends the link her agent got to a victim (alice): alice signs in as
 *   herself → refused, nothing stored for mallory;
 * - a victim's link used by an attacker: mallory cannot sign in as bob → refused; and the link is
 *   spent, so bob's own attempt fails visibly.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startOidc, type OidcFixture } from '../fixtures/oidc.js';
import { browserAvailable, launchBrowser, screenshotPath } from '../helpers/browser.js';
import { makeWorkspace } from '../helpers/cli.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';
import { scriptedConsent } from '../helpers/oauth-consent.js';

const CLIENT_SECRET = `kwclientsecret_${generateToken().slice(0, 24)}`;
const SIGNIN_SECRET = `kwsigninsecret_${generateToken().slice(0, 24)}`;
const TOKENS: Record<string, string> = Object.fromEntries(
  ['alice', 'bob', 'mallory'].map((u) => [u, generateToken()]),
);

let oidc: OidcFixture;
let replica: Replica;
let browser: Browser | undefined;
const clients: Client[] = [];

async function agentFor(user: string, url = false): Promise<{ client: Client; urls: string[] }> {
  const client = new Client(
    { name: `signin-${user}`, version: '0' },
    { capabilities: url ? { elicitation: { url: {} } } : {} },
  );
  const urls: string[] = [];
  if (url)
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      const params = request.params as { mode?: string; url?: string };
      if (params.mode === 'url') urls.push(params.url!);
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

async function call(client: Client): Promise<CallToolResult> {
  return (await client.callTool({ name: 'whoami', arguments: {} }, undefined, {
    timeout: 60_000,
  })) as CallToolResult;
}

const errorOf = (r: CallToolResult) =>
  (r.structuredContent as { error?: { code: string; url?: string } } | undefined)?.error;

/** One person's browser: signs in (or consents) with `account` at every provider form. */
async function personOpens(
  url: string,
  account: string,
  shot?: string,
): Promise<{ title: string; text: string }> {
  if (browser === undefined) {
    const r = await scriptedConsent(url, account);
    return { title: r.body.includes('Connected') ? 'Connected' : 'Not connected', text: r.body };
  }
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url);
    for (let i = 0; i < 3 && (await page.getByLabel('Account').count()) > 0; i++) {
      await page.getByLabel('Account').fill(account);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForLoadState();
    }
    await page.waitForSelector('#title');
    if (shot !== undefined) await page.screenshot({ path: screenshotPath(shot) });
    return { title: (await page.textContent('#title')) ?? '', text: (await page.textContent('body')) ?? '' };
  } finally {
    await context.close();
  }
}

beforeAll(async () => {
  oidc = await startOidc();
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
        },
      },
      connections: {
        signIn: {
          issuer: oidc.issuer,
          clientId: 'keyward-signin',
          clientSecret: { backend: 'local', ref: 'signin-client' },
        },
        providers: {
          test: {
            // Configured like a plain OAuth provider (GitHub): no ID token can name the person.
            authorizationUrl: `${oidc.issuer}/auth`,
            tokenUrl: `${oidc.issuer}/token`,
            clientId: 'keyward',
            clientSecret: { backend: 'local', ref: 'oauth-client' },
            scopes: ['offline_access', 'api'],
            authorizationParams: { prompt: 'consent' },
            verifyUser: 'signIn',
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
      audit: { type: 'sqlite', path: `${d}/audit.db` },
    }),
    { 'oauth-client': CLIENT_SECRET, 'signin-client': SIGNIN_SECRET },
  );
  replica = await startReplica(configPath);
  const callback = `${new URL(replica.url).origin}/oauth/callback`;
  oidc.configure([
    { clientId: 'keyward', clientSecret: CLIENT_SECRET, redirectUris: [callback] },
    { clientId: 'keyward-signin', clientSecret: SIGNIN_SECRET, redirectUris: [callback] },
  ]);
  if (browserAvailable) browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await browser?.close();
  await replica?.stop();
  await oidc?.close();
});

describe('verifyUser "signIn": the person signs in to keyward as the link’s user first', () => {
  it('alice signs in as alice, consents, and her waiting call continues', async () => {
    const { client, urls } = await agentFor('alice', true);
    const pending = call(client);
    const deadline = Date.now() + 15_000;
    while (urls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const seen = await personOpens(urls[0]!, 'alice', 'user-oauth-signin-connected');
    expect(seen.title).toBe('Connected');
    const result = await pending;
    expect(result.isError, JSON.stringify(result)).toBeFalsy();
    expect((result.structuredContent as { body: { user: string } }).body.user).toBe('alice');
  });

  it('an attacker’s link sent to a victim is refused when the victim signs in as themselves', async () => {
    const { client } = await agentFor('mallory');
    const link = errorOf(await call(client))!.url!;
    const seen = await personOpens(link, 'alice', 'user-oauth-signin-refused');
    expect(seen.title).toBe('Not connected');
    expect(seen.text).toContain('someone else');
    // Nothing was stored for mallory: her agent still has no connection.
    expect(errorOf(await call(client))?.code).toBe('authorization_required');
  });

  it('a victim’s link used by an attacker is refused, and spent', async () => {
    const { client } = await agentFor('bob');
    const link = errorOf(await call(client))!.url!;
    const attacker = await personOpens(link, 'mallory');
    expect(attacker.title).toBe('Not connected');
    const victim = await personOpens(link, 'bob');
    expect(victim.text).toContain('expired or was already used');
    // bob's next call gets a new link, which works for bob.
    const fresh = errorOf(await call(client))!.url!;
    expect((await personOpens(fresh, 'bob')).title).toBe('Connected');
    const ok = await call(client);
    expect((ok.structuredContent as { body: { user: string } }).body.user).toBe('bob');
  });
});
