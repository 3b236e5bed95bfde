/**
 * A real authorization server for the per-user OAuth tests and `keyward demo` (issue 16): the
 * `oidc-provider` package (a development dependency, loaded only here; the demo skips its user
 * step when it is not installed)
 * — a certified OpenID Connect provider — on 127.0.0.1, with a minimal login-and-consent page of our
 * own (a form with the account name: whoever types `alice` is alice), refresh tokens with
 * rotation, RFC 7009 revocation and RFC 7662 introspection; and a small protected API that
 * validates each access token by introspection and answers with the token's user.
 *
 * The provider is created lazily (`configure`) so keyward's redirect URI, known only once keyward
 * listens, can be registered exactly.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

/** The small part of oidc-provider used here (it ships no types). */
interface InteractionDetails {
  uid: string;
  params: Record<string, unknown>;
}
interface ProviderInstance {
  Grant: new (fields: { accountId: string; clientId: string }) => {
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  };
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  on(event: string, listener: (ctx: GrantContext) => void): void;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
interface GrantContext {
  oidc: { params?: { grant_type?: string }; entities?: { Account?: { accountId?: string } } };
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

/** Loads oidc-provider, or undefined when it is not installed (an installed keyward without dev dependencies). */
export async function loadOidcProvider(): Promise<ProviderClass | undefined> {
  const specifier = 'oidc-provider';
  try {
    const mod = (await import(specifier)) as { default: ProviderClass };
    return mod.default;
  } catch {
    return undefined;
  }
}

export interface OidcClientSpec {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
}

export interface TokenCounts {
  /** refresh_token grants per account. */
  refresh: Map<string, number>;
  /** authorization_code grants per account. */
  code: Map<string, number>;
}

export interface OidcFixture {
  readonly issuer: string;
  readonly apiOrigin: string;
  readonly apiClient: { id: string; secret: string };
  readonly counts: TokenCounts;
  /** Requests the API saw, with the user the token belonged to (undefined: refused). */
  readonly apiCalls: { user: string | undefined; path: string }[];
  configure(clients: readonly OidcClientSpec[], options?: { accessTokenTtlSeconds?: number }): void;
  /** Revokes every grant and token of an account at the provider (an admin, or the user, revoking). */
  revokeAccount(accountId: string): Promise<number>;
  /** Every access token, refresh token and authorization code the provider ever issued. */
  issuedTokens(): string[];
  /** Makes the token endpoint answer 503 (true) or work again (false). */
  tokenEndpointDown(down: boolean): void;
  close(): Promise<void>;
}

interface Stored {
  payload: Record<string, unknown>;
  expiresAt: number | undefined;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function startOidc(): Promise<OidcFixture> {
  const Provider = await loadOidcProvider();
  if (Provider === undefined) throw new Error('oidc-provider is not installed (npm ci in a clone)');
  const store = new Map<string, Stored>();
  const issued = new Set<string>();
  const keyOf = (model: string, id: string): string => `${model}:${id}`;
  const live = (k: string): Stored | undefined => {
    const entry = store.get(k);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && Date.now() > entry.expiresAt) {
      store.delete(k);
      return undefined;
    }
    return entry;
  };

  class MemoryAdapter {
    constructor(private readonly model: string) {}
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      if (['AccessToken', 'RefreshToken', 'AuthorizationCode'].includes(this.model)) issued.add(id);
      store.set(keyOf(this.model, id), {
        payload,
        expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000,
      });
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return live(keyOf(this.model, id))?.payload;
    }
    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      for (const [k, v] of store)
        if (k.startsWith(`${this.model}:`) && v.payload.uid === uid && live(k)) return v.payload;
      return undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const entry = live(keyOf(this.model, id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(keyOf(this.model, id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [k, v] of store) if (v.payload.grantId === grantId) store.delete(k);
    }
  }

  const counts: TokenCounts = { refresh: new Map(), code: new Map() };
  const apiCalls: OidcFixture['apiCalls'] = [];
  let provider: ProviderInstance | undefined;
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let down = false;
  const apiClient = { id: 'protected-api', secret: `api-secret-${Math.random().toString(36).slice(2)}` };

  const interaction = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const details = await provider!.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<!doctype html><html><body><h1>Sign in to the test provider</h1>` +
          `<p>Client ${escapeHtml(String(details.params.client_id))} asks for ${escapeHtml(String(details.params.scope ?? ''))}</p>` +
          `<form method="post" action="/interaction/${details.uid}">` +
          `<label>Account <input name="login" autofocus></label>` +
          `<button type="submit">Allow</button></form></body></html>`,
      );
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const accountId = form.get('login') ?? '';
    if (!/^[a-z0-9]{1,32}$/.test(accountId)) {
      res.statusCode = 400;
      res.end('bad account');
      return;
    }
    const grant = new provider!.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider!.interactionFinished(
      req,
      res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  };

  const server = createServer((req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
      return;
    }
    if (down && (req.url === '/token' || req.url?.startsWith('/token?') === true)) {
      res.statusCode = 503;
      res.setHeader('content-type', 'application/json');
      res.end('{"error":"temporarily_unavailable"}');
      return;
    }
    if (handler === undefined) {
      res.statusCode = 503;
      res.end('not configured');
      return;
    }
    handler(req, res);
  });
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  // Its own signing key (the provider's built-in development keys are for quick starts only).
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'local-1', use: 'sig', alg: 'RS256' };

  // The protected API: every request must carry an access token the provider says is active.
  const api = createServer((req, res) => {
    void (async () => {
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      const basic = Buffer.from(`${apiClient.id}:${apiClient.secret}`).toString('base64');
      const answer = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      const info = (await answer.json()) as { active?: boolean; sub?: string; scope?: string };
      const path = req.url ?? '/';
      if (info.active !== true || info.sub === undefined) {
        apiCalls.push({ user: undefined, path });
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
        res.end('{"error":"invalid_token"}');
        return;
      }
      apiCalls.push({ user: info.sub, path });
      res.setHeader('content-type', 'application/json');
      // A careless API that echoes the caller's Authorization header: redaction must catch it.
      const echo = path.startsWith('/echo') ? { authorization: header } : {};
      res.end(JSON.stringify({ user: info.sub, scope: info.scope, path, ...echo }));
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  const apiPort = await listen(api);

  return {
    issuer,
    apiOrigin: `http://127.0.0.1:${apiPort}`,
    apiClient,
    counts,
    apiCalls,
    configure(clients, options = {}) {
      provider = new Provider(issuer, {
        adapter: MemoryAdapter,
        jwks: { keys: [signingKey] },
        clients: [
          ...clients.map((c) => ({
            client_id: c.clientId,
            client_secret: c.clientSecret,
            redirect_uris: [...c.redirectUris],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          })),
          {
            client_id: apiClient.id,
            client_secret: apiClient.secret,
            redirect_uris: [],
            grant_types: [],
            response_types: [],
          },
        ],
        scopes: ['openid', 'offline_access', 'api'],
        claims: { openid: ['sub'] },
        findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
        interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
        features: {
          devInteractions: { enabled: false },
          introspection: { enabled: true, allowedPolicy: () => true },
          revocation: { enabled: true, allowedPolicy: () => true },
        },
        pkce: { required: () => true },
        issueRefreshToken: (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) =>
          client.grantTypeAllowed('refresh_token'),
        rotateRefreshToken: () => true,
        ttl: {
          AccessToken: options.accessTokenTtlSeconds ?? 3600,
          AuthorizationCode: 60,
          IdToken: 3600,
          RefreshToken: 86_400,
          Interaction: 600,
          Session: 3600,
          Grant: 86_400,
        },
        cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
        renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
          ctx.type = 'html';
          ctx.body = `<!doctype html><h1 id="provider-error">${escapeHtml(out.error ?? 'error')}</h1><p>${escapeHtml(out.error_description ?? '')}</p>`;
        },
      });
      provider.on(
        'grant.success',
        (ctx: {
          oidc: { params?: { grant_type?: string }; entities?: { Account?: { accountId?: string } } };
        }) => {
          const kind = ctx.oidc.params?.grant_type;
          const account = ctx.oidc.entities?.Account?.accountId ?? '?';
          const map =
            kind === 'refresh_token'
              ? counts.refresh
              : kind === 'authorization_code'
                ? counts.code
                : undefined;
          map?.set(account, (map.get(account) ?? 0) + 1);
        },
      );
      handler = provider.callback();
    },
    async revokeAccount(accountId) {
      let n = 0;
      for (const [k, v] of store) {
        if (
          v.payload.accountId === accountId &&
          /^(AccessToken|RefreshToken|Grant|AuthorizationCode):/.test(k)
        ) {
          store.delete(k);
          n += 1;
        }
      }
      return n;
    },
    issuedTokens() {
      return [...issued];
    },
    tokenEndpointDown(value) {
      down = value;
    },
    async close() {
      server.closeAllConnections();
      api.closeAllConnections();
      await Promise.all([
        new Promise<void>((r) => server.close(() => r())),
        new Promise<void>((r) => api.close(() => r())),
      ]);
    },
  };
}
