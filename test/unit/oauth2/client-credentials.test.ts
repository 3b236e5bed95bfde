/** OAuth2 client credentials against a local token endpoint: caching, single flight, refresh, errors, secrecy. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { injectSchema } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { ConfigError, KeywardError } from '../../../src/core/errors.js';
import type { Secret } from '../../../src/core/types.js';
import type { Logger } from '../../../src/observability/logger.js';
import type { OutboundRequest } from '../../../src/upstream/outbound-request.js';
import {
  createClientCredentialsInjector,
  type ClientCredentialsConfig,
} from '../../../src/upstream/oauth2/client-credentials.js';
import { json, startTokenServer, type TokenServer } from './token-server.js';

const CLIENT_SECRET = 'cs-very-secret-7f3a9b1c';
const API = 'https://api.example.test';
const secret: Secret = {
  value: CLIENT_SECRET,
  version: '1',
  keyId: 'file:oauth',
  fields: { client_id: 'keyward-client', client_secret: CLIENT_SECRET },
};

function request(): OutboundRequest {
  return { method: 'GET', url: new URL(`${API}/v1/things`), headers: {}, body: undefined };
}

function config(server: TokenServer, extra: Record<string, unknown> = {}): ClientCredentialsConfig {
  return injectSchema.parse({
    type: 'oauth2-client-credentials',
    tokenUrl: server.url,
    scopes: ['read', 'write'],
    ...extra,
  }) as ClientCredentialsConfig;
}

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'trace' }, stream) as unknown as Logger, lines };
}

let server: TokenServer;
let issued = 0;
let clock: ManualClock;

beforeEach(async () => {
  issued = 0;
  clock = new ManualClock();
  server = await startTokenServer(async (_req, res) => {
    await new Promise((r) => setTimeout(r, 20)); // keep the request in flight while others arrive
    issued++;
    json(res, 200, { access_token: `at-${issued}-secretish`, token_type: 'Bearer', expires_in: 100 });
  });
});

afterEach(async () => {
  await server.close();
});

describe('oauth2 client credentials injector', () => {
  it('makes ONE token request for many concurrent calls and injects a bearer header', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const requests = Array.from({ length: 50 }, request);
    const results = await Promise.all(
      requests.map((r) => injector.inject(r, secret, { forceRefresh: false })),
    );
    expect(server.requests).toHaveLength(1);
    for (const r of requests) expect(r.headers.authorization).toBe('Bearer at-1-secretish');
    // every secret-bearing string is handed back for redaction; the bearer wrapper only whole
    expect(results[0]).toEqual(
      expect.arrayContaining([
        { value: 'at-1-secretish', partials: true },
        { value: 'Bearer at-1-secretish', partials: false },
        { value: CLIENT_SECRET, partials: true },
      ]),
    );
    // the token request itself: form-encoded, client auth basic, scopes
    const sent = server.requests[0]!;
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent.form.get('grant_type')).toBe('client_credentials');
    expect(sent.form.get('scope')).toBe('read write');
    expect(sent.form.get('client_secret')).toBeNull();
    const basic = Buffer.from(String(sent.headers.authorization).replace(/^Basic /, ''), 'base64').toString();
    expect(basic).toBe(`keyward-client:${CLIENT_SECRET}`);
  });

  it('sends client credentials in the body and the audience when configured', async () => {
    const injector = createClientCredentialsInjector(
      config(server, { clientAuth: 'body', audience: 'https://api' }),
      {
        credentialName: 'oauth',
        origins: [server.origin, API],
        clock,
      },
    );
    await injector.inject(request(), secret, { forceRefresh: false });
    const sent = server.requests[0]!;
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.form.get('client_id')).toBe('keyward-client');
    expect(sent.form.get('client_secret')).toBe(CLIENT_SECRET);
    expect(sent.form.get('audience')).toBe('https://api');
  });

  it('caches until expires_in minus the skew, then refreshes before expiry', async () => {
    const injector = createClientCredentialsInjector(config(server, { refreshSkewSeconds: 30 }), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const r1 = request();
    await injector.inject(r1, secret, { forceRefresh: false });
    clock.advance(69_000); // 31 s left: still outside the skew
    const r2 = request();
    await injector.inject(r2, secret, { forceRefresh: false });
    expect(server.requests).toHaveLength(1);
    expect(r2.headers.authorization).toBe('Bearer at-1-secretish');
    clock.advance(2_000); // 29 s left: inside the skew, refresh although not expired
    const r3 = request();
    await injector.inject(r3, secret, { forceRefresh: false });
    expect(server.requests).toHaveLength(2);
    expect(r3.headers.authorization).toBe('Bearer at-2-secretish');
  });

  // Security review of 2026-12-05: `expires_in` is the endpoint's word. 0.001 made every call fetch
  // a new token (a token request per call); 1e308 an expiry of Infinity (never refreshed).
  it('a token lifetime is held to 10 s at least and a year at most, whatever expires_in says', async () => {
    let expiresIn: unknown = 0.001;
    server.handler = (_q, res) => {
      issued++;
      json(res, 200, { access_token: `at-${issued}-secretish`, token_type: 'Bearer', expires_in: expiresIn });
    };
    const injector = createClientCredentialsInjector(config(server, { refreshSkewSeconds: 30 }), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    for (let i = 0; i < 5; i++) {
      await injector.inject(request(), secret, { forceRefresh: false });
      clock.advance(50);
    }
    expect(server.requests).toHaveLength(1);
    clock.advance(5_000); // half of the 10 s floor: refreshed
    expiresIn = 1e308;
    await injector.inject(request(), secret, { forceRefresh: false });
    expect(server.requests).toHaveLength(2);
    clock.advance(366 * 24 * 3600 * 1000);
    await injector.inject(request(), secret, { forceRefresh: false });
    expect(server.requests).toHaveLength(3);
  });

  it('keeps using a still-valid token when an early refresh finds the endpoint down', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    server.handler = (_req, res) => json(res, 503, { error: 'temporarily_unavailable' });
    clock.advance(80_000); // inside the 30 s skew, 20 s before expiry
    const r = request();
    await injector.inject(r, secret, { forceRefresh: false });
    expect(r.headers.authorization).toBe('Bearer at-1-secretish');
    clock.advance(25_000); // now expired: no fallback
    await expect(injector.inject(request(), secret, { forceRefresh: false })).rejects.toMatchObject({
      code: 'secret_backend_unavailable',
    });
  });

  it('a burst of 401 retries (forceRefresh) causes exactly one refresh', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    clock.advance(10_000);
    const retries = Array.from({ length: 20 }, request);
    await Promise.all(
      retries.map(async (r) => {
        injector.invalidate?.();
        await injector.inject(r, secret, { forceRefresh: true });
      }),
    );
    expect(server.requests).toHaveLength(2);
    for (const r of retries) expect(r.headers.authorization).toBe('Bearer at-2-secretish');
    // a later, separate 401 refreshes again
    clock.advance(10_000);
    const later = request();
    await injector.inject(later, secret, { forceRefresh: true });
    expect(server.requests).toHaveLength(3);
    expect(later.headers.authorization).toBe('Bearer at-3-secretish');
  });

  it('a 401 right after a normal fetch still refreshes (the fresh token may have been revoked)', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    injector.invalidate?.();
    const retry = request();
    await injector.inject(retry, secret, { forceRefresh: true });
    expect(server.requests).toHaveLength(2);
    expect(retry.headers.authorization).toBe('Bearer at-2-secretish');
  });

  it('keeps tokens of different clients (tenants) apart', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const other: Secret = {
      ...secret,
      fields: { client_id: 'other-client', client_secret: 'other-secret-123' },
    };
    const a = request();
    const b = request();
    await injector.inject(a, secret, { forceRefresh: false });
    await injector.inject(b, other, { forceRefresh: false });
    expect(server.requests).toHaveLength(2);
    expect(a.headers.authorization).not.toBe(b.headers.authorization);
  });

  describe('failing token endpoint', () => {
    const cases: [string, (s: TokenServer) => void, string][] = [
      [
        '401 invalid_client',
        (s) =>
          (s.handler = (_q, res) =>
            json(res, 401, { error: 'invalid_client', error_description: `bad ${CLIENT_SECRET}` })),
        'credential_invalid',
      ],
      [
        '400 invalid_grant',
        (s) => (s.handler = (_q, res) => json(res, 400, { error: 'invalid_grant' })),
        'credential_invalid',
      ],
      [
        '400 invalid_scope',
        (s) => (s.handler = (_q, res) => json(res, 400, { error: 'invalid_scope' })),
        'credential_invalid',
      ],
      [
        '302 redirect',
        (s) =>
          (s.handler = (_q, res) => {
            res.writeHead(302, { location: 'http://127.0.0.1:1/x' });
            res.end();
          }),
        'credential_invalid',
      ],
      [
        '500',
        (s) => (s.handler = (_q, res) => json(res, 500, { error: 'server_error', echo: CLIENT_SECRET })),
        'secret_backend_unavailable',
      ],
      [
        '200 without a token',
        (s) => (s.handler = (_q, res) => json(res, 200, { token_type: 'bearer' })),
        'secret_backend_unavailable',
      ],
      [
        '200 with garbage',
        (s) =>
          (s.handler = (_q, res) => {
            res.writeHead(200);
            res.end(`<html>${CLIENT_SECRET}</html>`);
          }),
        'secret_backend_unavailable',
      ],
    ];
    for (const [label, arrange, code] of cases) {
      it(`${label} → ${code}, with no secret in the error`, async () => {
        arrange(server);
        const { logger, lines } = captureLogger();
        const injector = createClientCredentialsInjector(config(server), {
          credentialName: 'oauth',
          origins: [server.origin, API],
          clock,
          logger,
        });
        const error = await injector.inject(request(), secret, { forceRefresh: false }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(KeywardError);
        const k = error as KeywardError;
        expect(k.code).toBe(code);
        expect(k.retryable).toBe(code === 'secret_backend_unavailable');
        const everything = JSON.stringify({ m: k.message, d: k.detail, s: k.stack, lines });
        expect(everything).not.toContain(CLIENT_SECRET);
        expect(everything).not.toContain('secretish');
      });
    }

    it('connection refused → secret_backend_unavailable (retryable)', async () => {
      const origin = server.origin;
      const url = server.url;
      await server.close();
      const injector = createClientCredentialsInjector(config({ url } as TokenServer), {
        credentialName: 'oauth',
        origins: [origin, API],
        clock,
      });
      const error = (await injector
        .inject(request(), secret, { forceRefresh: false })
        .catch((e: unknown) => e)) as KeywardError;
      expect(error.code).toBe('secret_backend_unavailable');
      expect(error.retryAfterSeconds).toBeGreaterThan(0);
      server = await startTokenServer((_q, res) => json(res, 200, {})); // for afterEach
    });

    it('timeout → secret_backend_unavailable', async () => {
      server.handler = () => undefined; // never answers
      const injector = createClientCredentialsInjector(config(server), {
        credentialName: 'oauth',
        origins: [server.origin, API],
        clock,
        timeoutMs: 150,
      });
      const error = (await injector
        .inject(request(), secret, { forceRefresh: false })
        .catch((e: unknown) => e)) as KeywardError;
      expect(error.code).toBe('secret_backend_unavailable');
      expect(error.message).toContain('timed out');
    });
  });

  // Security review of 2026-12-05: the token endpoint is not trusted. It checked the access token
  // for CR and LF only: one with a NUL, DEL or U+2028 was injected as is, and undici's refusal came
  // back as the API's failure (`upstream_error`, UND_ERR_INVALID_ARG, counted by the API origin's
  // breaker); one of 60,000 characters was taken and compiled into the redactor (seconds of CPU).
  for (const [label, token, rule] of [
    ['a NUL', 'kwcanary_at_3c9e71\u0000b', /not allowed in an HTTP header/],
    ['a DEL', 'kwcanary_at_3c9e71\u007fb', /not allowed in an HTTP header/],
    ['U+2028', 'kwcanary_at_3c9e71\u2028b', /not allowed in an HTTP header/],
    ['a Latin-1 letter', 'kwcanary_at_3c9e71\u00e9b', /not allowed in an HTTP header/],
    ['60,000 characters', `kwcanary_at_3c9e71${'b'.repeat(60_000)}`, /over 8192 characters/],
  ] as const) {
    it(`an access token with ${label} is refused when it arrives, naming the rule, never the token`, async () => {
      server.handler = (_q, res) => json(res, 200, { access_token: token, token_type: 'Bearer' });
      const { logger, lines } = captureLogger();
      const injector = createClientCredentialsInjector(config(server), {
        credentialName: 'oauth',
        origins: [server.origin, API],
        clock,
        logger,
      });
      const outbound = request();
      const error = (await injector
        .inject(outbound, secret, { forceRefresh: false })
        .catch((e: unknown) => e)) as KeywardError;
      expect(error).toBeInstanceOf(KeywardError);
      expect(error.code).toBe('secret_backend_unavailable');
      expect(error.message).toMatch(/credential "oauth" returned an access token keyward cannot use/);
      expect(error.message).toMatch(rule);
      expect(outbound.headers.authorization).toBeUndefined();
      expect(JSON.stringify({ m: error.message, d: error.detail, s: error.stack, lines })).not.toContain(
        'kwcanary',
      );
    });
  }

  it('never logs the client secret or the access token on success', async () => {
    const { logger, lines } = captureLogger();
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
      logger,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain(CLIENT_SECRET);
    expect(lines.join('')).not.toContain('at-1-secretish');
  });

  it('refuses a token endpoint outside the credential origins, and requests to other origins', async () => {
    expect(() =>
      createClientCredentialsInjector(config(server), { credentialName: 'oauth', origins: [API], clock }),
    ).toThrow(ConfigError);
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const evil: OutboundRequest = {
      method: 'GET',
      url: new URL('https://evil.example.test/'),
      headers: {},
      body: undefined,
    };
    await expect(injector.inject(evil, secret, { forceRefresh: false })).rejects.toBeInstanceOf(KeywardError);
    expect(evil.headers.authorization).toBeUndefined();
    expect(server.requests).toHaveLength(0);
  });

  it('reports a secret without client_id as credential_invalid', async () => {
    const injector = createClientCredentialsInjector(config(server), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await expect(
      injector.inject(request(), { value: CLIENT_SECRET, version: '1', keyId: 'k' }, { forceRefresh: false }),
    ).rejects.toMatchObject({ code: 'credential_invalid' });
  });
});
