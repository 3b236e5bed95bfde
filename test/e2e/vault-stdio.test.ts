/**
 * Issue 4 end to end with Vault: the built CLI over real stdio, driven by the SDK client, reading
 * its credentials from the Vault emulator (AppRole from 0600 files, KV v2, per-tenant refs,
 * dynamic secrets) and calling a local API that demands them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultEmulator } from '../emulators/vault-emulator.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { error, ok, stdioSuite } from '../helpers/stdio-suite.js';
import { findCanary, makeCanary } from '../helpers/canary.js';
import { tempDir, writeJson, type StdioSession } from '../helpers/cli.js';

const ROLE_ID = makeCanary('kwrole');
const SECRET_ID = makeCanary('kwsecretid');
const ACME_V1 = makeCanary();
const ACME_V2 = makeCanary();
const ACME_V3 = makeCanary();
const ACME_V4 = makeCanary();
const GLOBEX = makeCanary();
const DYNAMIC = makeCanary('kwdynamic');
const CANARIES = [ROLE_ID, SECRET_ID, ACME_V1, ACME_V2, ACME_V3, ACME_V4, GLOBEX, DYNAMIC];

const ACME_PATH = '/v1/secret/data/tenants/acme/api';
const GLOBEX_PATH = '/v1/secret/data/tenants/globex/api';

let vault: VaultEmulator;
let upstream: Upstream;
/** Accepts only passwords of leases that are live at the emulator right now. */
let dbApi: Upstream;
let dir: string;
let configPath: string;
let alice: StdioSession;
/** Everything an agent or an operator saw: checked for canaries at the end. */
const suite = stdioSuite(() => configPath);
const { outputs, sessions, call, cli, open } = suite;
/** Dynamic password → lease id, to decide at the upstream whether the lease is still live. */
const leaseOfPassword = new Map<string, string>();

function sentKey(api: Upstream, from: number): (string | undefined)[] {
  return api.requests
    .slice(from)
    .map((r) => (r.headers.authorization as string | undefined)?.replace(/^Bearer /, ''));
}

/** KV data: `value` (the default field) and `token` (read by the api_short credential). */
function kv(value: string): Record<string, string> {
  return { value, token: value };
}

function config(d: string): Record<string, unknown> {
  const bearer = { type: 'bearer' };
  const tool = (credential: string, url: string, input: Record<string, unknown> = {}) => ({
    description: `GET ${url}`,
    permission: 'api:read',
    credential,
    request: { method: 'GET', url },
    input: {
      type: 'object',
      properties: input,
      ...(Object.keys(input).length ? { required: Object.keys(input) } : {}),
    },
  });
  const repoArgs = { owner: { type: 'string' }, repo: { type: 'string' } };
  return {
    // the cold-cache stampede below runs 500 calls at once (the default cap is 128)
    server: { stdio: { maxInFlight: 1000 } },
    agents: {
      alice: { roles: ['owner'], tenant: 'acme' },
      bob: { roles: ['owner'], tenant: 'globex' },
      carol: { roles: ['owner'], tenant: 'initech' },
    },
    identity: { stdio: { agent: 'alice' } },
    backends: {
      vault: {
        type: 'vault',
        address: vault.url,
        mount: 'secret',
        auth: {
          method: 'approle',
          roleId: { file: 'role-id' },
          secretId: { file: path.join(d, 'secret-id') },
        },
        dynamicMounts: ['database/creds'],
        renewBeforeSeconds: 1,
        timeoutMs: 1000,
        retries: 1,
        staleSeconds: 60,
      },
    },
    credentials: {
      api: {
        backend: 'vault',
        ref: 'tenants/{tenant}/api',
        inject: bearer,
        origins: [upstream.origin],
        cacheTtlSeconds: 60,
      },
      // Same path, other fields: credentials with the same (ref, field) share one cache entry.
      api_live: {
        backend: 'vault',
        ref: 'tenants/{tenant}/api',
        field: 'value',
        inject: bearer,
        origins: [upstream.origin],
        cacheTtlSeconds: 0,
      },
      api_short: {
        backend: 'vault',
        ref: 'tenants/{tenant}/api',
        field: 'token',
        inject: bearer,
        origins: [upstream.origin],
        cacheTtlSeconds: 1,
      },
      db: {
        backend: 'vault',
        ref: 'database/creds/app',
        field: 'password',
        inject: bearer,
        origins: [dbApi.origin],
      },
      db_fixed: {
        backend: 'vault',
        ref: 'database/creds/fixed',
        field: 'password',
        inject: bearer,
        origins: [dbApi.origin],
      },
    },
    tools: {
      get_repo: tool('api', `${upstream.origin}/repos/{owner}/{repo}`, repoArgs),
      get_repo_live: tool('api_live', `${upstream.origin}/repos/{owner}/{repo}`, repoArgs),
      get_repo_short: tool('api_short', `${upstream.origin}/repos/{owner}/{repo}`, repoArgs),
      echo_raw: tool('api', `${upstream.origin}/echo/raw`),
      db_query: tool('db', `${dbApi.origin}/rows`),
      db_fixed_query: tool('db_fixed', `${dbApi.origin}/rows`),
    },
    policy: { rules: [{ id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] }] },
    audit: { type: 'sqlite', path: path.join(d, 'audit.db') },
    grants: { store: 'memory' },
    logging: { level: 'debug' },
  };
}

beforeAll(async () => {
  vault = new VaultEmulator();
  await vault.start();
  vault.addAppRole({ roleId: ROLE_ID, secretId: SECRET_ID });
  vault.putKv('tenants/acme/api', kv(ACME_V1));
  vault.putKv('tenants/globex/api', kv(GLOBEX));
  const generate = (n: number): Record<string, unknown> => {
    const password = `${DYNAMIC}-${n}`;
    // issueLease registers the lease before generating its data: the newest live lease is ours.
    leaseOfPassword.set(password, vault.liveLeases().at(-1) ?? '');
    return { username: `v-app-${n}`, password };
  };
  vault.addDynamicRole('database/creds/app', { generate, ttlSeconds: 2, maxTtlSeconds: 4, renewable: true });
  vault.addDynamicRole('database/creds/fixed', {
    generate,
    ttlSeconds: 2,
    maxTtlSeconds: 2,
    renewable: false,
  });

  upstream = await startUpstream([ACME_V1, GLOBEX]);
  dbApi = await startUpstream();
  dbApi.options.acceptedKeys = new (class extends Set<string> {
    override has(key: string): boolean {
      const lease = leaseOfPassword.get(key);
      return lease !== undefined && vault.liveLeases().includes(lease);
    }
  })();

  dir = tempDir('keyward-vault-');
  writeFileSync(path.join(dir, 'role-id'), `${ROLE_ID}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'secret-id'), `${SECRET_ID}\n`, { mode: 0o600 });
  configPath = path.join(dir, 'tools.config.json');
  writeJson(configPath, config(dir));
  alice = await open('alice');
});

afterAll(async () => {
  for (const s of sessions) await s.close().catch(() => undefined);
  await upstream?.close();
  await dbApi?.close();
  await vault?.stop();
});

describe('Vault over stdio', () => {
  it('a call succeeds with exactly the stored KV value, read once with an AppRole token', async () => {
    const from = upstream.requests.length;
    const result = ok(await call(alice, 'get_repo', { owner: 'acme', repo: 'widgets' }));
    expect((result.structuredContent as { body: unknown }).body).toEqual({
      owner: 'acme',
      repo: 'widgets',
      stars: 42,
    });
    expect(sentKey(upstream, from)).toEqual([ACME_V1]);
    expect(vault.count('/v1/auth/approle/login')).toBe(1);
    expect(vault.count(ACME_PATH)).toBe(1);
    // The value echoed back by the API is redacted.
    const echoed = ok(await call(alice, 'echo_raw'));
    expect(JSON.stringify(echoed)).toContain('[REDACTED]');
    expect(vault.count(ACME_PATH)).toBe(1);
  });

  it('`keyward secrets rotate --backend vault` writes a new KV version; the next call re-fetches once', async () => {
    const rotate = await cli(['secrets', 'rotate', 'tenants/acme/api', '--backend', 'vault'], ACME_V2);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toBe('rotated tenants/acme/api to version 2 in backend "vault"\n');
    upstream.options.acceptedKeys = new Set([ACME_V2, GLOBEX]);
    const reads = vault.count(ACME_PATH);
    const from = upstream.requests.length;
    ok(await call(alice, 'get_repo', { owner: 'a', repo: 'b' }));
    // The cached v1 was rejected once, v2 fetched once, and the retry went through.
    expect(sentKey(upstream, from)).toEqual([ACME_V1, ACME_V2]);
    expect(vault.count(ACME_PATH) - reads).toBe(1);
  });

  it('an operator writing a new version mid-run gives zero failed calls', async () => {
    const from = upstream.requests.length;
    const reads = vault.count(ACME_PATH);
    for (let i = 0; i < 8; i++) {
      if (i === 4) {
        vault.putKv('tenants/acme/api', kv(ACME_V3));
        upstream.options.acceptedKeys = new Set([ACME_V3, GLOBEX]);
      }
      ok(await call(alice, 'get_repo', { owner: 'a', repo: String(i) }));
    }
    const keys = sentKey(upstream, from);
    expect(keys.filter((k) => k === ACME_V2)).toHaveLength(5); // four calls, then the one rejected
    expect(keys.filter((k) => k === ACME_V3)).toHaveLength(4);
    expect(vault.count(ACME_PATH) - reads).toBe(1);
  });

  it('sealed: no cache → secret_backend_unavailable with a retry hint; fresh or stale cache → served; unsealed → success', async () => {
    ok(await call(alice, 'get_repo_short', { owner: 'a', repo: 'b' }));
    ok(await call(alice, 'get_repo', { owner: 'a', repo: 'b' }));
    await new Promise((r) => setTimeout(r, 1200)); // get_repo_short's 1 s TTL runs out
    vault.sealed = true;
    try {
      const reads = vault.count(ACME_PATH);
      // Inside the TTL: a cache hit, no backend read at all.
      ok(await call(alice, 'get_repo', { owner: 'a', repo: 'b' }));
      expect(vault.count(ACME_PATH)).toBe(reads);
      // Past the TTL, inside the stale window: the backend is tried (and retried), then the cached value served.
      ok(await call(alice, 'get_repo_short', { owner: 'a', repo: 'b' }));
      expect(vault.count(ACME_PATH) - reads).toBe(2);
      // Never cached (cacheTtlSeconds 0): the call fails, retryable, with a hint.
      const e = error(await call(alice, 'get_repo_live', { owner: 'a', repo: 'b' }));
      expect(e.code).toBe('secret_backend_unavailable');
      expect(e.retryable).toBe(true);
      expect(e.retryAfterSeconds).toEqual(expect.any(Number));
      expect(e.retryAfterSeconds as number).toBeGreaterThan(0);
      expect(String(e.message)).not.toContain('tenants/');
    } finally {
      vault.sealed = false;
    }
    const from = upstream.requests.length;
    ok(await call(alice, 'get_repo_live', { owner: 'a', repo: 'b' }));
    expect(sentKey(upstream, from)).toEqual([ACME_V3]);
  });

  it('a soft-deleted version → credential_revoked, the cache is evicted and the value never served again', async () => {
    // The key is revoked: the operator soft-deletes it in Vault and the API stops accepting it.
    vault.deleteKv('tenants/acme/api');
    upstream.options.acceptedKeys = new Set([GLOBEX]);
    const e = error(await call(alice, 'get_repo', { owner: 'a', repo: 'b' }));
    expect(e.code).toBe('credential_revoked');
    expect(e.retryable).toBe(false);
    // Even if the API accepted the old value, it is not served from cache: Vault is asked again.
    upstream.options.acceptedKeys = new Set([ACME_V3, GLOBEX]);
    const reads = vault.count(ACME_PATH);
    const from = upstream.requests.length;
    expect(error(await call(alice, 'get_repo', { owner: 'a', repo: 'b' })).code).toBe('credential_revoked');
    expect(vault.count(ACME_PATH) - reads).toBeGreaterThanOrEqual(1);
    expect(upstream.requests.length).toBe(from);
  });

  it('a destroyed version → credential_revoked; a new version works again', async () => {
    vault.putKv('tenants/acme/api', kv(ACME_V4));
    upstream.options.acceptedKeys = new Set([ACME_V4, GLOBEX]);
    ok(await call(alice, 'get_repo_live', { owner: 'a', repo: 'b' }));
    vault.deleteKv('tenants/acme/api', { destroy: true });
    const from = upstream.requests.length;
    expect(error(await call(alice, 'get_repo_live', { owner: 'a', repo: 'b' })).code).toBe(
      'credential_revoked',
    );
    expect(upstream.requests.length).toBe(from);
  });

  it('dynamic secrets whose leases expire mid-task are renewed or re-issued with no failed call', async () => {
    const issuedBefore = vault.count('/v1/database/creds/app') + vault.count('/v1/database/creds/fixed');
    const from = dbApi.requests.length;
    const started = Date.now();
    let calls = 0;
    // Leases last 2 s (renewable up to 4 s, or not renewable at all): run across several of them.
    while (Date.now() - started < 5000) {
      ok(await call(alice, 'db_query'));
      ok(await call(alice, 'db_fixed_query'));
      calls += 2;
      await new Promise((r) => setTimeout(r, 200));
    }
    const sent = dbApi.requests.slice(from);
    // Every call went through on the first try (no 401 and retry).
    expect(sent).toHaveLength(calls);
    expect(vault.count('/v1/sys/leases/renew')).toBeGreaterThanOrEqual(1);
    expect(vault.count('/v1/database/creds/app')).toBeGreaterThanOrEqual(2);
    expect(vault.count('/v1/database/creds/fixed')).toBeGreaterThanOrEqual(3);
    expect(
      vault.count('/v1/database/creds/app') + vault.count('/v1/database/creds/fixed') - issuedBefore,
    ).toBeLessThan(calls);
    expect(new Set(sentKey(dbApi, from)).size).toBeGreaterThanOrEqual(4);
  });

  it('500 concurrent calls on a cold cache make exactly one backend read per key', async () => {
    const bob = await open('bob');
    const reads = vault.count(GLOBEX_PATH);
    const from = upstream.requests.length;
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => call(bob, 'get_repo', { owner: 'o', repo: `r${i}` })),
    );
    for (const r of results) ok(r);
    expect(vault.count(GLOBEX_PATH) - reads).toBe(1);
    expect(new Set(sentKey(upstream, from))).toEqual(new Set([GLOBEX]));
  });

  it("tenant isolation: B's principal never reads A's path, whatever the arguments", async () => {
    const bob = sessions.at(-1) as StdioSession;
    vault.putKv('tenants/acme/api', kv(ACME_V4));
    const acmeReads = vault.count(ACME_PATH);
    const from = upstream.requests.length;
    const vaultFrom = vault.requests.length;
    const attacks = [
      'acme',
      '../acme',
      'tenants/acme/api',
      '{tenant}',
      '../../acme/api',
      '%2e%2e%2facme',
      'acme\u0000',
    ];
    for (const owner of attacks) {
      for (const name of ['get_repo', 'get_repo_live']) {
        const result = await call(bob, name, { owner, repo: owner });
        if (!result.isError) expect((result.structuredContent as { status: number }).status).toBe(200);
        else expect(error(result).code).toBe('invalid_arguments');
      }
    }
    expect(vault.count(ACME_PATH)).toBe(acmeReads);
    expect(vault.requests.slice(vaultFrom).filter((r) => r.path.includes('acme'))).toEqual([]);
    expect(new Set(sentKey(upstream, from))).toEqual(new Set([GLOBEX]));
  });

  it('a tenant with no secret gets credential_not_found that reveals nothing about other tenants', async () => {
    const carol = await open('carol');
    const e = error(await call(carol, 'get_repo', { owner: 'acme', repo: 'api' }));
    expect(e.code).toBe('credential_not_found');
    expect(e.retryable).toBe(false);
    for (const word of ['acme', 'globex', 'initech', 'tenants/'])
      expect(String(e.message)).not.toContain(word);
    // The same answer as for a ref that no tenant has: nothing to compare against.
    vault.resetCounters();
    const again = error(await call(carol, 'get_repo_live', { owner: 'globex', repo: 'api' }));
    expect(again.code).toBe('credential_not_found');
    expect(again.message).toBe(e.message);
    expect(vault.requests.map((r) => r.path)).toEqual(['/v1/secret/data/tenants/initech/api']);
  });

  it('no canary appears in any result, error, CLI output or the debug-level stderr of the servers', async () => {
    for (const s of sessions) await s.close();
    const everything = [...outputs, ...sessions.map((s) => s.stderr())].join('\n');
    // The servers ran at debug level and did log (the stale-value warning included).
    expect(sessions[0]?.stderr()).toContain('keyward serving on stdio');
    expect(sessions[0]?.stderr()).toContain('serving the cached value within its stale window');
    // The canaries were real: the upstreams received them.
    const sent = [...upstream.requests, ...dbApi.requests]
      .map((r) => String(r.headers.authorization))
      .join('\n');
    for (const canary of [ACME_V1, ACME_V2, ACME_V3, ACME_V4, GLOBEX, DYNAMIC])
      expect(sent).toContain(canary);
    for (const canary of CANARIES) expect(findCanary(everything, canary), canary).toEqual([]);
  });
});
