/**
 * Cross-field checks that used to fail only when a server started (the JWT verifier, the grant
 * store, the consent-state store, the HTTP bind) are made by the loader and `keyward check`.
 */
import { describe, expect, it } from 'vitest';
import { configuredHttpIssues, httpServeIssues } from '../../../src/config/http-bind.js';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/errors.js';
import { coreConfig } from '../../helpers/configs.js';

const base = (): Record<string, unknown> => coreConfig('/tmp/x', 'http://127.0.0.1:1');

function issuesOf(raw: unknown): readonly { path: string; message: string }[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

describe('checks made at load time rather than at server start', () => {
  it('refuses identity.jwt without jwksUri or jwksFile', () => {
    const raw = { ...base(), identity: { jwt: { issuers: ['https://idp.example/'], audience: 'a' } } };
    expect(issuesOf(raw)).toContainEqual({
      path: 'identity.jwt',
      message: expect.stringMatching(/jwksUri or jwksFile/),
    });
  });

  it('refuses grants in Redis without a Redis cache, and without its encryptionKey', () => {
    expect(issuesOf({ ...base(), grants: { store: 'redis' } })).toContainEqual({
      path: 'grants.store',
      message: expect.stringMatching(/cache.type redis/),
    });
    const redis = { type: 'redis', url: 'redis://127.0.0.1:6379' };
    expect(issuesOf({ ...base(), cache: redis, grants: { store: 'redis' } })).toContainEqual({
      path: 'cache.encryptionKey',
      message: expect.stringMatching(/seals grants/),
    });
    expect(
      issuesOf({ ...base(), cache: { ...redis, encryptionKey: { env: 'K' } }, grants: { store: 'redis' } }),
    ).toEqual([]);
  });

  it('refuses user connections with a Redis cache but no encryptionKey', () => {
    const raw = base();
    const credentials = raw.credentials as Record<string, unknown>;
    const config = {
      ...raw,
      cache: { type: 'redis', url: 'redis://127.0.0.1:6379' },
      connections: {
        providers: {
          gh: {
            authorizationUrl: 'https://gh.example/a',
            tokenUrl: 'https://gh.example/t',
            clientId: 'c',
            verifyUser: 'none',
          },
        },
      },
      credentials: {
        ...credentials,
        mine: {
          backend: 'local',
          ref: 'users/{user}/gh',
          connection: 'gh',
          inject: { type: 'bearer' },
          origins: ['https://api.gh.example'],
        },
      },
    };
    expect(issuesOf(config)).toContainEqual({
      path: 'cache.encryptionKey',
      message: expect.stringMatching(/consent state/),
    });
  });

  it('finds what serve --http refuses: a non-loopback bind without authentication, no agent', () => {
    const open = parseConfig({ ...base(), server: { http: { host: '0.0.0.0' } } }).config;
    expect(configuredHttpIssues(open)).toEqual([
      { path: 'server.http.host', message: expect.stringMatching(/needs authentication/) },
    ]);
    expect(httpServeIssues(open, '127.0.0.1')).toEqual([]);
    const noAgent = parseConfig({ server: { http: {} } }).config;
    expect(configuredHttpIssues(noAgent)).toEqual([
      { path: 'agents', message: expect.stringMatching(/needs an agent/) },
    ]);
    const tokens = parseConfig({
      ...base(),
      identity: { tokens: [{ agent: 'local', sha256: 'a'.repeat(64) }] },
      server: { http: { host: '0.0.0.0' } },
    }).config;
    expect(configuredHttpIssues(tokens)).toEqual([]);
    expect(configuredHttpIssues(parseConfig(base()).config)).toEqual([]);
  });
});
