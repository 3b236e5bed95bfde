/**
 * The approval console as a person uses it (issue 15): `keyward serve --http` with an operator,
 * an agent whose MCP client supports URL elicitation, and headless Chromium (Debian's package,
 * driven by playwright-core) as the operator's browser. The agent's call waits for approval → the
 * operator signs in, sees the exact arguments, approves → the call completes; deny; revoke
 * mid-task; a client without URL elicitation gets approval_required with the page's URL; CSRF and
 * cross-origin posts, and agent tokens, are refused; a hostile justification stays inert text.
 * Screenshots of each page are saved under artifacts/screenshots/.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { toSlack, type KeywardAlert } from '../../examples/notifier/slack-format.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { browserAvailable, launchBrowser, screenshotPath } from '../helpers/browser.js';
import { makeWorkspace, runCli } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { signIn } from '../helpers/console-client.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';

const KEY = `kw_test_console_${generateToken().slice(0, 16)}`;
const AGENT_TOKEN = generateToken();
/**
 * Agents of their own for the deny and revoke tests: an operator's deny stands for that agent's
 * permission, and so does a revoked grant until the agent asks again.
 */
const SECOND_AGENT_TOKEN = generateToken();
const THIRD_AGENT_TOKEN = generateToken();
/** Two people acting through one agent (tokens naming a user): carol and dave. */
const CAROL_TOKEN = generateToken();
const DAVE_TOKEN = generateToken();
const OPERATOR_TOKEN = generateToken();

let upstream: Upstream;
let configPath: string;
/** What keyward's alert webhook POSTed (a chat relay's view). */
const alerts: Record<string, unknown>[] = [];
let webhook: Server;
let replica: Replica;
let origin: string;
let browser: Browser;
let page: Page;

interface UrlAgent {
  client: Client;
  /** URL elicitations received, in order. */
  urls: { url: string; elicitationId: string; message: string }[];
}

/** An agent whose client cannot elicit: it gets approval_required with the page's url. */
async function plainAgent(token = AGENT_TOKEN): Promise<Client> {
  const client = new Client({ name: 'no-url-agent', version: '0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replica.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function urlAgent(token = AGENT_TOKEN): Promise<UrlAgent> {
  const client = new Client(
    { name: 'console-e2e-agent', version: '0' },
    { capabilities: { elicitation: { url: {} } } },
  );
  const urls: UrlAgent['urls'] = [];
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    const params = request.params as { mode?: string; url?: string; elicitationId?: string; message: string };
    if (params.mode === 'url')
      urls.push({ url: params.url!, elicitationId: params.elicitationId!, message: params.message });
    return { action: 'accept' };
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(replica.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return { client, urls };
}

function errorOf(result: CallToolResult): Record<string, unknown> | undefined {
  return (result.structuredContent as { error?: Record<string, unknown> } | undefined)?.error;
}

async function until<T>(probe: () => T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Where the letters `key` and `value` are drawn (left edge, px) in the first element matching
 * `selector` that shows `key`. Runs in the page, as a string: the test's TypeScript has no DOM types.
 */
async function drawnAt(
  selector: string,
  key: string,
  value: string,
): Promise<{ key: number; value: number }> {
  return (await page.evaluate(`(() => {
    const root = [...document.querySelectorAll(${JSON.stringify(selector)})].find((e) => e.textContent.includes(${JSON.stringify(key)}));
    if (root === undefined) throw new Error('nothing in ${selector} shows the key');
    const leftOf = (char) => {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
        const at = node.textContent.indexOf(char);
        if (at === -1) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + 1);
        return range.getBoundingClientRect().left;
      }
      throw new Error(char + ' not shown');
    };
    return { key: leftOf(${JSON.stringify(key)}), value: leftOf(${JSON.stringify(value)}) };
  })()`)) as { key: number; value: number };
}

async function signInInBrowser(target: string): Promise<void> {
  await page.goto(target);
  if (page.url().includes('/console/login')) {
    await page.getByLabel('Operator token').fill(OPERATOR_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.pathname.endsWith('/login'));
  }
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/`;
  ({ configPath } = await makeWorkspace(
    (dir) => {
      const base = coreConfig(dir, upstream.origin) as Record<string, unknown>;
      return {
        ...base,
        agents: {
          local: { roles: ['owner'], tenant: 'default' },
          second: { roles: ['owner'], tenant: 'default' },
          third: { roles: ['owner'], tenant: 'default' },
          shared: { roles: ['owner'], tenant: 'default' },
        },
        identity: {
          tokens: [
            { agent: 'local', sha256: sha256Hex(AGENT_TOKEN), id: 'agent' },
            { agent: 'second', sha256: sha256Hex(SECOND_AGENT_TOKEN), id: 'second' },
            { agent: 'third', sha256: sha256Hex(THIRD_AGENT_TOKEN), id: 'third' },
            { agent: 'shared', sha256: sha256Hex(CAROL_TOKEN), id: 'carol', user: 'carol' },
            { agent: 'shared', sha256: sha256Hex(DAVE_TOKEN), id: 'dave', user: 'dave' },
          ],
        },
        console: { operators: [{ name: 'alice', sha256: sha256Hex(OPERATOR_TOKEN) }], waitSeconds: 60 },
        policy: {
          hideUnusableTools: false,
          rules: [
            { id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] },
            {
              id: 'write',
              effect: 'approve',
              roles: ['owner'],
              permissions: ['api:write'],
              grantTtlSeconds: 900,
              maxGrantTtlSeconds: 3600,
            },
          ],
        },
        notifier: { webhook: { url: webhookUrl } },
        logging: { level: 'warn' },
      };
    },
    { api: KEY },
  ));
  replica = await startReplica(configPath);
  origin = new URL(replica.url).origin;
  if (browserAvailable) {
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await replica?.stop();
  await upstream?.close();
  webhook?.close();
});

describe.skipIf(!browserAvailable)('approving from the browser', () => {
  it('the agent’s call waits; the operator signs in, sees the exact arguments, approves; the call completes', async () => {
    const agent = await urlAgent();
    const args = { title: 'quarterly report', amount: 1234, tags: ['a', 'b'] };
    const call = agent.client.callTool({ name: 'create_any', arguments: args }) as Promise<CallToolResult>;
    const { url, message } = await until(() => agent.urls[0], 'the URL elicitation');
    expect(url).toMatch(new RegExp(`^${origin}/console/approvals/a_`));
    expect(message).toContain('api:write');
    expect(upstream.requests.filter((r) => r.url === '/items')).toHaveLength(0);

    await page.goto(url);
    expect(page.url()).toContain('/console/login');
    await page.screenshot({ path: screenshotPath('console-login'), fullPage: true });
    await page.getByLabel('Operator token').fill(OPERATOR_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(url);
    const shown = JSON.parse((await page.locator('#arguments').textContent()) ?? '') as unknown;
    expect(shown).toEqual(args);
    expect(await page.locator('.who').textContent()).toBe('Signed in as alice');
    await page.screenshot({ path: screenshotPath('console-approval'), fullPage: true });

    await page.getByLabel('only these arguments').check();
    await page.getByLabel('For').selectOption('900');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.flash', { hasText: 'Approved.' }).waitFor();
    expect(await page.locator('.status').textContent()).toContain('approved');

    const result = await call;
    expect(errorOf(result)).toBeUndefined();
    expect(upstream.requests.filter((r) => r.url === '/items')).toHaveLength(1);

    await page.goto(`${origin}/console/audit?tool=create_any&verify=1`);
    const audit = (await page.locator('main').textContent()) ?? '';
    expect(audit).toContain('approval.answered');
    expect(audit).toContain('operator:alice');
    expect(await page.locator('#verify').textContent()).toContain('Chain verified');
    await page.screenshot({ path: screenshotPath('console-audit'), fullPage: true });
    await agent.client.close();
  });

  it('deny: the operator declines with a reason and the waiting call answers approval_denied', async () => {
    const agent = await urlAgent(SECOND_AGENT_TOKEN);
    const call = agent.client.callTool({
      name: 'create_any',
      arguments: { title: 'delete everything' },
    }) as Promise<CallToolResult>;
    const { url } = await until(() => agent.urls[0], 'the URL elicitation');
    await signInInBrowser(`${origin}/console/approvals`);
    await page.screenshot({ path: screenshotPath('console-pending'), fullPage: true });
    await page.goto(url);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByLabel('Reason (recorded in the audit trail)').fill('not during the freeze');
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.locator('.flash', { hasText: 'Denied.' }).waitFor();
    const result = await call;
    expect(errorOf(result)?.code).toBe('approval_denied');
    expect(upstream.requests.some((r) => r.body.includes('delete everything'))).toBe(false);
    await page.goto(`${origin}/console/audit?tool=create_any`);
    expect(await page.locator('main').textContent()).toContain('not during the freeze');
    await agent.client.close();
  });

  it('revoke mid-task: calls covered by an any-arguments grant succeed until the operator revokes it', async () => {
    const agent = await urlAgent(THIRD_AGENT_TOKEN);
    const first = agent.client.callTool({
      name: 'create_any',
      arguments: { n: 1 },
    }) as Promise<CallToolResult>;
    const { url } = await until(() => agent.urls[0], 'the URL elicitation');
    await signInInBrowser(url);
    await page.getByLabel('any arguments of').check();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.flash', { hasText: 'Approved.' }).waitFor();
    expect(errorOf(await first)).toBeUndefined();
    const second = (await agent.client.callTool({
      name: 'create_any',
      arguments: { n: 2 },
    })) as CallToolResult;
    expect(errorOf(second)).toBeUndefined();

    await page.goto(`${origin}/console/grants`);
    await page.screenshot({ path: screenshotPath('console-grants'), fullPage: true });
    page.once('dialog', (dialog) => void dialog.accept());
    await page
      .getByRole('button', { name: /^Revoke grant/ })
      .first()
      .click();
    await page.locator('.flash', { hasText: 'Revoked.' }).waitFor();
    const third = (await agent.client.callTool({
      name: 'create_any',
      arguments: { n: 3 },
    })) as CallToolResult;
    expect(errorOf(third)?.code).toBe('permission_denied');
    expect(String(errorOf(third)?.message)).toContain('revoked');
    expect(upstream.requests.some((r) => r.body.includes('"n":3'))).toBe(false);
    await agent.client.close();
  });

  it('a justification carrying HTML, script and terminal escapes shows as inert text', async () => {
    const hostile =
      '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"><b>bold</b>\u001b[2K\u202eevil' +
      // Tag characters: invisible ASCII ("ig") an operator cannot see.
      '\u{E0069}\u{E0067}';
    const client = await plainAgent();
    const asked = (await client.callTool({
      name: 'request_capability',
      arguments: { permission: 'api:write', justification: hostile, constraints: { title: '<i>x</i>' } },
    })) as CallToolResult;
    const outcome = asked.structuredContent as { status: string; url?: string; approvalId: string };
    expect(outcome.status).toBe('pending');
    expect(outcome.url).toBe(`${origin}/console/approvals/${outcome.approvalId}`);
    await signInInBrowser(outcome.url!);
    const quoted = page.locator('#justification');
    expect(await quoted.textContent()).toContain('<script>window.__pwned=1</script>');
    expect(await quoted.textContent()).toContain('\\e[2K\\u{202e}evil');
    expect(await quoted.textContent()).toContain('evil\\u{e0069}\\u{e0067}');
    expect(await quoted.locator('script, img, b').count()).toBe(0);
    expect(await page.locator('main script, main img').count()).toBe(0);
    // Runs in the page: `globalThis` there is the page's window.
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#arguments').textContent()).toContain('<i>x</i>');
    await page.screenshot({ path: screenshotPath('console-hostile-justification'), fullPage: true });
    await client.close();
  });

  it('right-to-left text cannot swap how a key and its value read: each string is isolated', async () => {
    const client = await plainAgent();
    // Unisolated, the line `"אאא": "בבב"` is one right-to-left run: the value is drawn left of the key.
    const result = (await client.callTool({
      name: 'create_any',
      arguments: { אאא: 'בבב' },
    })) as CallToolResult;
    const id = String(errorOf(result)?.approvalId);
    await signInInBrowser(`${origin}/console/approvals/${id}`);
    const left = await drawnAt('#arguments', 'א', 'ב');
    expect(left.key).toBeLessThan(left.value);
    expect(JSON.parse((await page.locator('#arguments').textContent()) ?? '')).toEqual({ אאא: 'בבב' });
    await client.close();
  });

  it('a look-alike host or branch shows its foreign letters by code point, not as the real name', async () => {
    const client = await plainAgent();
    // Cyrillic о (U+043E) and а (U+0430): drawn as is, the operator reads google.com and main.
    const result = (await client.callTool({
      name: 'create_any',
      arguments: { url: 'https://g\u043e\u043egle.com/', branch: 'm\u0430in' },
    })) as CallToolResult;
    const id = String(errorOf(result)?.approvalId);
    await signInInBrowser(`${origin}/console/approvals/${id}`);
    const shown = (await page.locator('#arguments').textContent()) ?? '';
    expect(shown).toContain('g\\u{043e}\\u{043e}gle.com');
    expect(shown).toContain('m\\u{0430}in');
    expect(shown).not.toMatch(/[\u0400-\u04ff]/u);
    await client.close();
  });

  it('right-to-left constraints cannot swap how a key and its value read: approval page, grants, audit', async () => {
    const client = await plainAgent();
    // Until the security review of 2026-12-05 the scope the operator approves, the grants list and
    // the audit details each drew `{"גגג":"דדד"}` as one right-to-left run: value where the key is.
    const asked = (await client.callTool({
      name: 'request_capability',
      arguments: { permission: 'api:write', constraints: { גגג: 'דדד' } },
    })) as CallToolResult;
    const { url } = asked.structuredContent as { url: string };
    await signInInBrowser(url);
    for (const selector of ['form fieldset p', 'p.hint']) {
      const at = await drawnAt(selector, 'ג', 'ד');
      expect(at.key, selector).toBeLessThan(at.value);
    }
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.flash', { hasText: 'Approved.' }).waitFor();
    await page.goto(`${origin}/console/grants`);
    const granted = await drawnAt('main td', 'ג', 'ד');
    expect(granted.key).toBeLessThan(granted.value);
    await page.goto(`${origin}/console/audit`);
    const audited = await drawnAt('main td code', 'ג', 'ד');
    expect(audited.key).toBeLessThan(audited.value);
    await client.close();
  });

  it('a cross-origin form post from another site is refused and changes nothing', async () => {
    const client = await plainAgent();
    const result = (await client.callTool({
      name: 'create_any',
      arguments: { csrf: 'target' },
    })) as CallToolResult;
    const id = String(errorOf(result)?.approvalId);
    await signInInBrowser(`${origin}/console/approvals`);
    // An attacker's page on another origin auto-submits a form to the console.
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id=f method=post action="${origin}/console/approvals/${id}/approve">` +
          `<input name=scope value=any><input name=csrf value=guess></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    const response = page.waitForResponse((r) => r.url().includes(`/approvals/${id}/approve`));
    await page.goto(evilOrigin);
    expect((await response).status()).toBe(403);
    evil.close();
    const operator = await signIn(origin, OPERATOR_TOKEN);
    expect((await operator.get(`/console/approvals/${id}`)).html).toContain(
      'Status: <strong>pending</strong>',
    );
    await client.close();
  });
});

describe('the console over plain HTTP', () => {
  it('a client without URL elicitation gets approval_required with the page URL; approving there lets the retry succeed', async () => {
    const client = await plainAgent();
    const first = (await client.callTool({
      name: 'create_any',
      arguments: { retry: 'me' },
    })) as CallToolResult;
    const error = errorOf(first)!;
    expect(error.code).toBe('approval_required');
    expect(error.url).toBe(`${origin}/console/approvals/${String(error.approvalId)}`);
    // The alert for chat carries the same page, and the example relay formats it for Slack.
    const alert = await until(
      () => alerts.find((a) => (a.details as { approvalId?: string }).approvalId === error.approvalId),
      'the approval.requested webhook',
    );
    expect(alert).toMatchObject({
      type: 'approval.requested',
      url: error.url,
      agent: 'local',
      permission: 'api:write',
    });
    expect(toSlack(alert as unknown as KeywardAlert).text).toContain(
      `<${String(error.url)}|Review in the keyward console>`,
    );
    const operator = await signIn(origin, OPERATOR_TOKEN);
    const path = `/console/approvals/${String(error.approvalId)}`;
    const approved = await operator.post(
      `${path}/approve`,
      { scope: 'these', ttlSeconds: '300' },
      { pagePath: path },
    );
    expect(approved.status).toBe(303);
    const retry = (await client.callTool({
      name: 'create_any',
      arguments: { retry: 'me' },
    })) as CallToolResult;
    expect(errorOf(retry)).toBeUndefined();
    // Pinned to the arguments shown: other arguments need their own approval.
    const other = (await client.callTool({
      name: 'create_any',
      arguments: { retry: 'other' },
    })) as CallToolResult;
    expect(errorOf(other)?.code).toBe('approval_required');
    await client.close();
  });

  it("an approval of carol's call, widened to any arguments, never lets the agent act for dave", async () => {
    const carol = await plainAgent(CAROL_TOKEN);
    const dave = await plainAgent(DAVE_TOKEN);
    const call = (client: Client) =>
      client.callTool({ name: 'create_any', arguments: { note: 'quarterly' } }) as Promise<CallToolResult>;
    const asked = errorOf(await call(carol))!;
    expect(asked.code).toBe('approval_required');
    const operator = await signIn(origin, OPERATOR_TOKEN);
    const path = `/console/approvals/${String(asked.approvalId)}`;
    const shown = (await operator.get(path)).html;
    expect(shown).toMatch(/<dt>For user<\/dt><dd id="user">carol<\/dd>/);
    const approved = await operator.post(
      `${path}/approve`,
      { scope: 'any', ttlSeconds: '300' },
      { pagePath: path },
    );
    expect(approved.status).toBe(303);
    expect(errorOf(await call(carol))).toBeUndefined();
    // The same agent acting for dave: his own request, not carol's grant.
    const forDave = errorOf(await call(dave))!;
    expect(forDave.code).toBe('approval_required');
    expect(forDave.approvalId).not.toBe(asked.approvalId);
    expect((await operator.get('/console/grants')).html).toContain('for user');
    await carol.close();
    await dave.close();
  });

  it("a link cannot make a pending request look answered: the action's notice comes from the session, once", async () => {
    const client = await plainAgent();
    const result = (await client.callTool({
      name: 'create_any',
      arguments: { notice: 'forged' },
    })) as CallToolResult;
    const path = `/console/approvals/${String(errorOf(result)?.approvalId)}`;
    const operator = await signIn(origin, OPERATOR_TOKEN);
    // The agent hands the operator this link; the page must still read "pending", with no "Approved.".
    for (const done of ['approved', 'denied', 'revoked']) {
      const forged = (await operator.get(`${path}?done=${done}`)).html;
      expect(forged).toContain('Status: <strong>pending</strong>');
      expect(forged).not.toContain('class="flash');
    }
    const approved = await operator.post(`${path}/approve`, { scope: 'these' }, { pagePath: path });
    expect(approved.status).toBe(303);
    expect(approved.location).not.toContain('done=');
    const next = (await operator.get(path)).html;
    expect(next).toContain('Approved.');
    expect(next).toContain('Status: <strong>approved</strong>');
    expect((await operator.get(path)).html).not.toContain('Approved.');
    await client.close();
  });

  it('refuses a state change without the CSRF token, from a foreign Origin, or with no Origin at all', async () => {
    const client = await plainAgent();
    const result = (await client.callTool({
      name: 'create_any',
      arguments: { csrf: 'test' },
    })) as CallToolResult;
    const path = `/console/approvals/${String(errorOf(result)?.approvalId)}`;
    const operator = await signIn(origin, OPERATOR_TOKEN);
    const noCsrf = await operator.post(`${path}/approve`, { scope: 'any' }, { csrf: null });
    expect(noCsrf.status).toBe(403);
    const wrongCsrf = await operator.post(`${path}/approve`, { scope: 'any' }, { csrf: 'x'.repeat(43) });
    expect(wrongCsrf.status).toBe(403);
    const foreign = await operator.post(
      `${path}/approve`,
      { scope: 'any' },
      { pagePath: path, origin: 'http://evil.example' },
    );
    expect(foreign.status).toBe(403);
    const noOrigin = await operator.post(
      `${path}/approve`,
      { scope: 'any' },
      { pagePath: path, origin: null },
    );
    expect(noOrigin.status).toBe(403);
    expect((await operator.get(path)).html).toContain('Status: <strong>pending</strong>');
    await client.close();
  });

  it('an agent token never opens the console', async () => {
    await expect(signIn(origin, AGENT_TOKEN)).rejects.toThrow('sign-in refused: 401');
    const withBearer = await fetch(`${origin}/console/approvals`, {
      headers: { authorization: `Bearer ${AGENT_TOKEN}` },
      redirect: 'manual',
    });
    expect(withBearer.status).toBe(303);
    expect(withBearer.headers.get('location')).toContain('/console/login');
    const grants = await fetch(`${origin}/console/grants`, { redirect: 'manual' });
    expect(grants.status).toBe(303);
  });

  it('pages carry a CSP without inline scripts, no framing, and an HttpOnly SameSite=Strict cookie', async () => {
    const login = await fetch(`${origin}/console/login`);
    const csp = login.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    const response = await fetch(`${origin}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: new URLSearchParams({ token: OPERATOR_TOKEN, next: 'https://evil.example/' }).toString(),
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/console/approvals');
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/console/);
  });

  it('operator tokens are created by `keyward tokens create --operator` and added to the config', async () => {
    const created = await runCli(['tokens', 'create', '--operator', 'bob', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { token, entry } = JSON.parse(created.stdout) as {
      token: string;
      entry: { name: string; sha256: string };
    };
    expect(entry).toEqual({ name: 'bob', sha256: sha256Hex(token) });
  });
});
