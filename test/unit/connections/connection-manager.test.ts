// Issue 16: the connection manager's refresh path in-process: single-flight per user, rotated
// refresh tokens written back, a hanging or refusing token endpoint never hangs a call.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditSink } from '../../../src/audit/audit-sink.js';
import { configSchema } from '../../../src/config/schema.js';
import { ConnectionManager } from '../../../src/connections/connection-manager.js';
import { KeywardError } from '../../../src/core/errors.js';
import type { AuditEvent, Principal, Secret, SecretRequest } from '../../../src/core/types.js';
import { SecretRegistry, silentLogger } from '../../../src/observability/logger.js';
import type { SecretBackend } from '../../../src/secrets/secret-backend.js';

class MemoryBackend implements SecretBackend {
  readonly kind = 'memory';
  readonly storesOneString = true;
  readonly readPermissionHint = 'test';
  readonly values = new Map<string, { value: string; version: number }>();
  async get(request: SecretRequest): Promise<Secret> {
    const entry = this.values.get(request.ref);
    if (entry === undefined) throw new KeywardError('credential_not_found', 'no such secret');
    return { value: entry.value, version: String(entry.version), keyId: `mem:${request.ref}` };
  }
  async set(ref: string, value: string): Promise<{ version: string }> {
    const version = (this.values.get(ref)?.version ?? 0) + 1;
    this.values.set(ref, { value, version });
    return { version: String(version) };
  }
  async remove(ref: string): Promise<void> {
    this.values.delete(ref);
  }
  async list(): Promise<{ name: string; version: string }[]> {
    return [...this.values].map(([name, v]) => ({ name, version: String(v.version) }));
  }
  async probe(): Promise<{ ok: boolean; message: string }> {
    return { ok: true, message: 'ok' };
  }
  async close(): Promise<void> {}
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function tokenEndpoint(
  answer: (
    body: URLSearchParams,
  ) =>
    | { status: number; json?: Record<string, unknown> }
    | 'hang'
    | Promise<{ status: number; json?: Record<string, unknown> }>,
): Promise<{ url: string; requests: URLSearchParams[] }> {
  const requests: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      requests.push(params);
      void Promise.resolve(answer(params)).then((a) => {
        if (a === 'hang') return;
        setTimeout(() => {
          res.statusCode = a.status;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(a.json ?? {}));
        }, 30);
      });
    });
  });
  server.on('connection', (s) => sockets.add(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const principal = (user: string): Principal => ({
  agent: 'assistant',
  tenant: 'acme',
  user,
  roles: [],
  attributes: {},
  authMethod: 'token',
});

function setup(base: string, timeoutMs = 1000, revocation = false, secrets?: SecretRegistry) {
  const backend = new MemoryBackend();
  const events: AuditEvent[] = [];
  const audit = { append: async (e: AuditEvent) => void events.push(e) } as unknown as AuditSink;
  const config = configSchema.parse({
    backends: { mem: { type: 'env' } },
    credentials: {
      me: {
        backend: 'mem',
        ref: 'c/{tenant}/{user}/p',
        connection: 'p',
        inject: { type: 'bearer' },
        origins: ['https://api.example.com'],
      },
    },
    connections: {
      publicUrl: 'https://keyward.example.com',
      providers: {
        p: {
          authorizationUrl: `${base}/authorize`,
          tokenUrl: `${base}/token`,
          ...(revocation ? { revocationUrl: `${base}/revoke` } : {}),
          clientId: 'keyward',
          verifyUser: 'none',
          refreshSkewSeconds: 30,
          timeoutMs,
        },
      },
    },
  });
  const manager = new ConnectionManager({
    config,
    backends: new Map([['mem', backend]]),
    audit,
    clock: { now: () => Date.now() },
    logger: silentLogger(),
    ...(secrets === undefined ? {} : { secrets }),
  });
  return { manager, backend, events };
}

function record(user: string, refreshToken: string, expiresInMs: number): string {
  return JSON.stringify({
    provider: 'p',
    user,
    tenant: 'acme',
    agent: 'assistant',
    accessToken: `old-access-${user}`,
    refreshToken,
    expiresAt: Date.now() + expiresInMs,
    connectedAt: new Date().toISOString(),
  });
}

describe('connection manager', () => {
  it('50 concurrent calls due for refresh make one token request per user, and the rotated refresh token is written back', async () => {
    let n = 0;
    const endpoint = await tokenEndpoint((body) => ({
      status: 200,
      json: {
        access_token: `new-access-${body.get('refresh_token')}-${++n}`,
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: `rotated-${body.get('refresh_token')}`,
      },
    }));
    const { manager, backend } = setup(endpoint.url);
    await backend.set('c/acme/alice/p', record('alice', 'rt-alice', 5_000));
    await backend.set('c/acme/bob/p', record('bob', 'rt-bob', 5_000));
    const secrets = await Promise.all(
      Array.from({ length: 50 }, (_, i) => manager.resolve('me', principal(i % 2 ? 'bob' : 'alice'))),
    );
    expect(endpoint.requests.map((r) => r.get('refresh_token')).sort()).toEqual(['rt-alice', 'rt-bob']);
    secrets.forEach((s, i) =>
      expect(s.value).toMatch(i % 2 ? /^new-access-rt-bob-/ : /^new-access-rt-alice-/),
    );
    const stored = JSON.parse(backend.values.get('c/acme/alice/p')!.value) as { refreshToken: string };
    expect(stored.refreshToken).toBe('rotated-rt-alice');
    expect(backend.values.get('c/acme/alice/p')!.version).toBe(2);
    // The next call uses the cached token: no request.
    await manager.resolve('me', principal('alice'));
    expect(endpoint.requests).toHaveLength(2);
  });

  it('a token endpoint that never answers gives secret_backend_unavailable within its timeout', async () => {
    const endpoint = await tokenEndpoint(() => 'hang');
    const { manager, backend, events } = setup(endpoint.url, 1000);
    await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
    const started = Date.now();
    const error = (await manager.resolve('me', principal('alice')).catch((e: unknown) => e)) as KeywardError;
    expect(error.code).toBe('secret_backend_unavailable');
    expect(error.retryAfterSeconds).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(events.map((e) => e.type)).toContain('connection.refresh_failed');
    // The record stays: the grant was not refused.
    expect(backend.values.has('c/acme/alice/p')).toBe(true);
  });

  it('invalid_grant removes the record (credential_revoked), then the call asks for consent', async () => {
    const endpoint = await tokenEndpoint(() => ({ status: 400, json: { error: 'invalid_grant' } }));
    const { manager, backend, events } = setup(endpoint.url);
    await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
    const revoked = (await manager
      .resolve('me', principal('alice'))
      .catch((e: unknown) => e)) as KeywardError;
    expect(revoked.code).toBe('credential_revoked');
    expect(backend.values.has('c/acme/alice/p')).toBe(false);
    const next = (await manager.resolve('me', principal('alice')).catch((e: unknown) => e)) as KeywardError;
    expect(next.code).toBe('authorization_required');
    expect(next.url).toMatch(/^https:\/\/keyward\.example\.com\/oauth\/start\?ticket=/);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['connection.refresh_failed', 'connection.revoked', 'connection.requested']),
    );
    // No event carries a token.
    expect(JSON.stringify(events)).not.toMatch(/old-access|"rt"/);
  });

  it('a principal without a user never reads anyone’s record', async () => {
    const endpoint = await tokenEndpoint(() => ({ status: 500 }));
    const { manager, backend } = setup(endpoint.url);
    await backend.set('c/acme/alice/p', record('alice', 'rt', 60_000));
    const p: Principal = {
      agent: 'assistant',
      tenant: 'acme',
      roles: [],
      attributes: {},
      authMethod: 'token',
    };
    const error = (await manager.resolve('me', p).catch((e: unknown) => e)) as KeywardError;
    expect(error.code).toBe('credential_not_found');
  });

  // Security review of 2026-12-05: an operator revokes a connection while a refresh is in flight.
  // The provider answered the refresh (with the old refresh token) before it saw the revocation;
  // the old code wrote the fresh tokens back, so the revoked connection came back to life.
  it('a revoke during a refresh in flight wins: nothing is written back, the new tokens are revoked', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const endpoint = await tokenEndpoint(async (body) => {
      if (body.get('grant_type') !== 'refresh_token') return { status: 200 };
      await gate;
      return {
        status: 200,
        json: {
          access_token: 'fresh-access',
          token_type: 'Bearer',
          expires_in: 3600,
          refresh_token: 'fresh-rt',
        },
      };
    });
    const { manager, backend, events } = setup(endpoint.url, 5000, true);
    await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
    const call = manager.resolve('me', principal('alice')).catch((e: unknown) => e);
    while (!endpoint.requests.some((r) => r.get('grant_type') === 'refresh_token'))
      await new Promise((r) => setTimeout(r, 5));
    const removed = await manager.revoke({ user: 'alice' }, 'operator:root');
    expect(removed).toHaveLength(1);
    release();
    const error = (await call) as KeywardError;
    expect(error).toBeInstanceOf(KeywardError);
    expect(error.code).toBe('credential_revoked');
    expect(backend.values.has('c/acme/alice/p')).toBe(false);
    // The tokens the provider issued during the revoke are revoked too.
    expect(endpoint.requests.map((r) => r.get('token'))).toContain('fresh-rt');
    // The next call asks for consent: the connection did not come back.
    const next = (await manager.resolve('me', principal('alice')).catch((e: unknown) => e)) as KeywardError;
    expect(next.code).toBe('authorization_required');
    expect(JSON.stringify(events)).not.toMatch(/fresh-access|fresh-rt/);
  });

  // Security review of 2026-12-05: the agent chooses what it calls, and an API answers 403 for a
  // missing scope, a rate limit or a resource the user cannot see. A 403 used to count as the
  // token rejected, so any such call deleted a connection that has no refresh token.
  it('a 403 never disconnects a user; a 401 on a token that cannot be refreshed does', async () => {
    const endpoint = await tokenEndpoint(() => ({ status: 500 }));
    const { manager, backend } = setup(endpoint.url);
    const noRefresh = (user: string): string =>
      JSON.stringify({ ...(JSON.parse(record(user, 'x', 3_600_000)) as object), refreshToken: undefined });
    await backend.set('c/acme/alice/p', noRefresh('alice'));
    const first = await manager.resolve('me', principal('alice'));
    const again = await manager.resolve('me', principal('alice'), {
      forceRefresh: true,
      rejectedVersion: first.version,
      rejectedStatus: 403,
    });
    expect(again.value).toBe(first.value);
    expect(backend.values.has('c/acme/alice/p')).toBe(true);
    expect(endpoint.requests).toHaveLength(0);
    const revoked = (await manager
      .resolve('me', principal('alice'), {
        forceRefresh: true,
        rejectedVersion: first.version,
        rejectedStatus: 401,
      })
      .catch((e: unknown) => e)) as KeywardError;
    expect(revoked.code).toBe('credential_revoked');
    expect(backend.values.has('c/acme/alice/p')).toBe(false);
  });

  // Security review of 2026-12-05 (OAuth providers): the provider's token endpoint may be hostile.
  // openid-client read its whole answer, however large, and keyward took any non-empty string as
  // the access token: a token of megabytes was stored, put on the logger's scrub list and compiled
  // into the redactor (about 30 ms of blocked event loop per KiB, every tenant stalled), and one
  // with NUL or non-Latin-1 characters was stored and failed every call at the injector.
  it('an unsendable or huge access or refresh token is refused at intake; nothing is stored or registered', async () => {
    const canary = 'kwcanary_at_9f2c41d7b3e8a6';
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['NUL', { access_token: `${canary}\u0000x` }, /access token.*not allowed in an HTTP header/],
      ['CR LF', { access_token: `${canary}\r\nx-evil: 1` }, /access token.*not allowed in an HTTP header/],
      ['non-Latin-1', { access_token: `${canary}\u2028x` }, /access token.*not allowed in an HTTP header/],
      [
        '2 MiB',
        { access_token: `${canary}${'A'.repeat(2 * 1024 * 1024)}` },
        /response of OAuth provider "p" is over 65536 bytes/,
      ],
      [
        '9,000 characters',
        { access_token: `${canary}${'A'.repeat(9000)}` },
        /access token.*over 8192 characters/,
      ],
      [
        'a refresh token with a NUL',
        { access_token: canary, refresh_token: `${canary}\u0000rt` },
        /refresh token.*not allowed/,
      ],
    ];
    for (const [label, json, message] of bad) {
      const endpoint = await tokenEndpoint(() => ({
        status: 200,
        json: { token_type: 'Bearer', expires_in: 3600, ...json },
      }));
      const secrets = new SecretRegistry();
      const { manager, backend, events } = setup(endpoint.url, 5000, false, secrets);
      await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
      const stored = backend.values.get('c/acme/alice/p')!.value;
      const error = (await manager
        .resolve('me', principal('alice'))
        .catch((e: unknown) => e)) as KeywardError;
      expect(error, label).toBeInstanceOf(KeywardError);
      expect(error.code, label).toBe('secret_backend_unavailable');
      expect(error.message, label).toMatch(message);
      expect(error.message, label).toContain('provider "p"');
      const said = JSON.stringify({ message: error.message, detail: error.detail, events });
      expect(said, label).not.toContain('kwcanary');
      // The stored connection is untouched, and no token reached the logger's scrub list.
      expect(backend.values.get('c/acme/alice/p')!.value, label).toBe(stored);
      expect(
        secrets.snapshot().filter((v) => v.includes('kwcanary')),
        label,
      ).toEqual([]);
    }
  });

  it('a token endpoint streaming an endless answer is cut off at 64 KiB, not read to the end', async () => {
    let written = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"access_token":"kwcanary_at_5e1b","token_type":"Bearer","pad":"');
        const chunk = 'A'.repeat(64 * 1024);
        const pump = (): void => {
          while (written < 512 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end('"}');
        };
        res.on('close', () => undefined);
        pump();
      });
    });
    server.on('connection', (s) => sockets.add(s));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { manager, backend } = setup(base, 20_000);
    await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
    const started = Date.now();
    const error = (await manager.resolve('me', principal('alice')).catch((e: unknown) => e)) as KeywardError;
    expect(error).toBeInstanceOf(KeywardError);
    expect(error.code).toBe('secret_backend_unavailable');
    expect(error.message).toMatch(/response of OAuth provider "p" is over 65536 bytes/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(written).toBeLessThan(64 * 1024 * 1024);
  }, 30_000);

  // Security review of 2026-12-05: `expires_in` is the provider's word. 0 (which openid-client
  // accepts) made every call refresh, hitting the token endpoint and writing a new vault version per
  // call; 1e308 became an expiry of Infinity, stored as null, which every other replica (and this one
  // after cacheTtlSeconds) read as due, refreshing again.
  it('expires_in 0 refreshes once, not on every call', async () => {
    let n = 0;
    const endpoint = await tokenEndpoint(() => ({
      status: 200,
      json: { access_token: `at-${++n}`, token_type: 'Bearer', expires_in: 0, refresh_token: `rt-${n}` },
    }));
    const { manager, backend } = setup(endpoint.url);
    await backend.set('c/acme/alice/p', record('alice', 'rt-0', -1_000));
    for (let i = 0; i < 5; i++) await manager.resolve('me', principal('alice'));
    expect(endpoint.requests).toHaveLength(1);
    expect(backend.values.get('c/acme/alice/p')!.version).toBe(2);
  });

  it('expires_in 1e308 is stored as a finite expiry that another replica does not read as due', async () => {
    const endpoint = await tokenEndpoint(() => ({
      status: 200,
      json: { access_token: 'at-forever', token_type: 'Bearer', expires_in: 1e308, refresh_token: 'rt-1' },
    }));
    const { manager, backend } = setup(endpoint.url);
    await backend.set('c/acme/alice/p', record('alice', 'rt-0', -1_000));
    await manager.resolve('me', principal('alice'));
    const stored = JSON.parse(backend.values.get('c/acme/alice/p')!.value) as { expiresAt: unknown };
    expect(typeof stored.expiresAt).toBe('number');
    expect(stored.expiresAt as number).toBeLessThanOrEqual(Date.now() + 366 * 24 * 3600 * 1000);
    // Another replica on the same vault uses the stored token as it is.
    const other = new ConnectionManager({
      config: configSchema.parse({
        backends: { mem: { type: 'env' } },
        credentials: {
          me: {
            backend: 'mem',
            ref: 'c/{tenant}/{user}/p',
            connection: 'p',
            inject: { type: 'bearer' },
            origins: ['https://api.example.com'],
          },
        },
        connections: {
          publicUrl: 'https://keyward.example.com',
          providers: {
            p: {
              authorizationUrl: `${endpoint.url}/authorize`,
              tokenUrl: `${endpoint.url}/token`,
              clientId: 'keyward',
              verifyUser: 'none',
            },
          },
        },
      }),
      backends: new Map([['mem', backend]]),
      audit: { append: async () => undefined } as unknown as AuditSink,
      clock: { now: () => Date.now() },
      logger: silentLogger(),
    });
    expect((await other.resolve('me', principal('alice'))).value).toBe('at-forever');
    expect(endpoint.requests).toHaveLength(1);
  });

  // Security review of 2026-12-05: a provider that answers a refresh with a malformed token
  // response got "OAuth provider "p" is unavailable", as if it were down; the message now names what
  // is wrong (the field and its rule, from a fixed list: never a value of the answer).
  it('a malformed token response is named: the field and the rule it breaks, never a value', async () => {
    const cases: [string, Record<string, unknown> | string, RegExp][] = [
      ['no access_token', { token_type: 'Bearer', note: 'kwcanary_x1' }, /"access_token" must be a string/],
      ['empty access_token', { access_token: '', token_type: 'Bearer' }, /"access_token" must not be empty/],
      [
        'negative expires_in',
        { access_token: 'kwcanary_at_77', token_type: 'Bearer', expires_in: -5 },
        /"expires_in" must be a non-negative number/,
      ],
      [
        'expires_in not a number',
        { access_token: 'kwcanary_at_77', token_type: 'Bearer', expires_in: 'kwcanary_soon' },
        /"expires_in" must be a number/,
      ],
      ['no token_type', { access_token: 'kwcanary_at_77' }, /"token_type" must be a string/],
      ['HTML', '<html>kwcanary_page</html>', /not JSON/],
    ];
    for (const [label, answer, rule] of cases) {
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, {
            'content-type': typeof answer === 'string' ? 'text/html' : 'application/json',
          });
          res.end(typeof answer === 'string' ? answer : JSON.stringify(answer));
        });
      });
      server.on('connection', (c) => sockets.add(c));
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const { manager, backend } = setup(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await backend.set('c/acme/alice/p', record('alice', 'rt', -1_000));
      const error = (await manager
        .resolve('me', principal('alice'))
        .catch((e: unknown) => e)) as KeywardError;
      expect(error, label).toBeInstanceOf(KeywardError);
      expect(error.code, label).toBe('secret_backend_unavailable');
      expect(error.message, label).toMatch(
        /^OAuth provider "p" answered the refresh with an invalid token response: /,
      );
      expect(error.message, label).toMatch(rule);
      expect(JSON.stringify({ m: error.message, d: error.detail }), label).not.toContain('kwcanary');
    }
  });
});
