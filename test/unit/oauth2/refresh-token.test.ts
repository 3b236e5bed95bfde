/** OAuth2 refresh-token grant against a local token endpoint: rotation, single flight, errors, secrecy. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { injectSchema } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { KeywardError } from '../../../src/core/errors.js';
import type { Secret } from '../../../src/core/types.js';
import type { OutboundRequest } from '../../../src/upstream/outbound-request.js';
import {
  createRefreshTokenInjector,
  type RefreshTokenConfig,
} from '../../../src/upstream/oauth2/refresh-token.js';
import { json, startTokenServer, type TokenServer } from './token-server.js';

const API = 'https://api.example.test';
const RT0 = 'rt-initial-0d9c8b7a';
const CLIENT_SECRET = 'cs-refresh-5e4d3c2b';

function request(): OutboundRequest {
  return { method: 'GET', url: new URL(`${API}/me`), headers: {}, body: undefined };
}

let server: TokenServer;
let clock: ManualClock;
/** The authorization server's view: the one refresh token it currently accepts. */
let valid: string;
let n: number;

beforeEach(async () => {
  clock = new ManualClock();
  valid = RT0;
  n = 0;
  server = await startTokenServer(async (req, res) => {
    await new Promise((r) => setTimeout(r, 10));
    if (req.form.get('grant_type') !== 'refresh_token' || req.form.get('refresh_token') !== valid) {
      json(res, 400, {
        error: 'invalid_grant',
        error_description: `unknown ${req.form.get('refresh_token')}`,
      });
      return;
    }
    n++;
    valid = `rt-rotated-${n}-abcdef`;
    json(res, 200, {
      access_token: `rat-${n}-token`,
      token_type: 'bearer',
      expires_in: 60,
      refresh_token: valid,
    });
  });
});

afterEach(async () => {
  await server.close();
});

function config(extra: Record<string, unknown> = {}): RefreshTokenConfig {
  return injectSchema.parse({
    type: 'oauth2-refresh-token',
    tokenUrl: server.url,
    ...extra,
  }) as RefreshTokenConfig;
}

const secret: Secret = {
  value: RT0,
  version: '3',
  keyId: 'vault:oauth',
  fields: { client_id: 'app', client_secret: CLIENT_SECRET, refresh_token: RT0 },
};

describe('oauth2 refresh-token injector', () => {
  it('exchanges the stored refresh token once for many concurrent calls and rotates the new one into the backend', async () => {
    const rotated: string[] = [];
    const injector = createRefreshTokenInjector(config({ scopes: ['profile'] }), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
      rotate: async (next) => {
        rotated.push(next);
      },
    });
    const requests = Array.from({ length: 25 }, request);
    const results = await Promise.all(
      requests.map((r) => injector.inject(r, secret, { forceRefresh: false })),
    );
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.form.get('scope')).toBe('profile');
    for (const r of requests) expect(r.headers.authorization).toBe('Bearer rat-1-token');
    expect(rotated).toEqual(['rt-rotated-1-abcdef']);
    // every secret-bearing string is handed back for redaction
    expect(results[0]).toEqual(
      expect.arrayContaining([
        { value: 'rat-1-token', partials: true },
        { value: 'Bearer rat-1-token', partials: false },
        { value: RT0, partials: true },
        { value: 'rt-rotated-1-abcdef', partials: true },
        { value: CLIENT_SECRET, partials: true },
      ]),
    );
  });

  it('after expiry, refreshes with the rotated token even while the backend still returns the old one', async () => {
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    clock.advance(45_000); // 60 s lifetime, 30 s skew → refresh due
    const r = request();
    await injector.inject(r, secret, { forceRefresh: false }); // stale secret: still RT0
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.form.get('refresh_token')).toBe('rt-rotated-1-abcdef');
    expect(r.headers.authorization).toBe('Bearer rat-2-token');
    // and once the backend caught up with the rotation, the same lineage (and token) is used
    const caughtUp: Secret = {
      ...secret,
      fields: { ...secret.fields, refresh_token: 'rt-rotated-2-abcdef' },
    };
    const r2 = request();
    await injector.inject(r2, caughtUp, { forceRefresh: false });
    expect(server.requests).toHaveLength(2);
    expect(r2.headers.authorization).toBe('Bearer rat-2-token');
  });

  it('a forced refresh after a 401 refreshes exactly once', async () => {
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    await injector.inject(request(), secret, { forceRefresh: false });
    clock.advance(5_000);
    await Promise.all(
      Array.from({ length: 10 }, () => injector.inject(request(), secret, { forceRefresh: true })),
    );
    expect(server.requests).toHaveLength(2);
  });

  it('a revoked refresh token (invalid_grant) → credential_invalid, without any token in the error', async () => {
    valid = 'something-else';
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const error = (await injector
      .inject(request(), secret, { forceRefresh: false })
      .catch((e: unknown) => e)) as KeywardError;
    expect(error.code).toBe('credential_invalid');
    expect(error.retryable).toBe(false);
    const text = JSON.stringify({ m: error.message, d: error.detail, s: error.stack });
    expect(text).not.toContain(RT0);
    expect(text).not.toContain(CLIENT_SECRET);
  });

  // Security review of 2026-12-05: a rotated refresh token is written to the secret backend and
  // sent back on the next refresh; one the endpoint made unusable (control characters, megabytes)
  // is refused when it arrives, before it is rotated into the backend.
  it('a rotated refresh token with a NUL is refused, and never rotated into the backend', async () => {
    server.handler = (_q, res) =>
      json(res, 200, {
        access_token: 'rat-ok-token',
        token_type: 'bearer',
        expires_in: 60,
        refresh_token: 'kwcanary_rt_5d2a\u0000x',
      });
    const rotated: string[] = [];
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
      rotate: async (next) => {
        rotated.push(next);
      },
    });
    const error = (await injector
      .inject(request(), secret, { forceRefresh: false })
      .catch((e: unknown) => e)) as KeywardError;
    expect(error.code).toBe('secret_backend_unavailable');
    expect(error.message).toMatch(
      /returned a refresh token keyward cannot use: it has characters not allowed/,
    );
    expect(error.message).not.toContain('kwcanary');
    expect(rotated).toEqual([]);
  });

  it('a failing rotate callback does not fail the call; the new token is still used', async () => {
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
      rotate: () => Promise.reject(new Error('backend is read-only')),
    });
    const r = request();
    await injector.inject(r, secret, { forceRefresh: false });
    expect(r.headers.authorization).toBe('Bearer rat-1-token');
  });

  it('public clients (no client secret) send client_id in the body', async () => {
    const injector = createRefreshTokenInjector(config(), {
      credentialName: 'oauth',
      origins: [server.origin, API],
      clock,
    });
    const publicSecret: Secret = { value: RT0, version: '1', keyId: 'k', fields: { client_id: 'spa' } };
    await injector.inject(request(), publicSecret, { forceRefresh: false });
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(server.requests[0]!.form.get('client_id')).toBe('spa');
    expect(server.requests[0]!.form.get('refresh_token')).toBe(RT0);
  });
});
