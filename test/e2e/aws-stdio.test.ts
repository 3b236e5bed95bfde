/**
 * Issue 4 end to end with AWS Secrets Manager: the built CLI over real stdio, driven by the SDK
 * client, reading its credentials from the AWS emulator (endpoint override, static keys from 0600
 * files) and calling a local API that demands them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSmEmulator } from '../emulators/aws-sm-emulator.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { error, ok, stdioSuite } from '../helpers/stdio-suite.js';
import { findCanary, makeCanary } from '../helpers/canary.js';
import { tempDir, writeJson, type StdioSession } from '../helpers/cli.js';

const ACCESS_KEY_ID = makeCanary('AKIAKW');
const SECRET_ACCESS_KEY = makeCanary('kwawssecret');
const API_V1 = makeCanary();
const API_V2 = makeCanary();
const API_V3 = makeCanary();
const DOOMED = makeCanary();
const DENIED = makeCanary();
const ACME = makeCanary();
const GLOBEX = makeCanary();
const CANARIES = [ACCESS_KEY_ID, SECRET_ACCESS_KEY, API_V1, API_V2, API_V3, DOOMED, DENIED, ACME, GLOBEX];

let aws: AwsSmEmulator;
let upstream: Upstream;
let configPath: string;
let alice: StdioSession;
const suite = stdioSuite(() => configPath);
const { outputs, sessions, call, cli, open } = suite;

function sentKeys(from: number): (string | undefined)[] {
  return upstream.requests
    .slice(from)
    .map((r) => (r.headers.authorization as string | undefined)?.replace(/^Bearer /, ''));
}

const gets = (id: string): number => aws.count('GetSecretValue', id);

/** Makes the emulator throttle exactly the next `n` requests (its switch is read once per request). */
function throttleNext(n: number): void {
  let left = n;
  Object.defineProperty(aws, 'throttle', { configurable: true, get: () => left-- > 0, set: () => undefined });
}

function stopThrottling(): void {
  Object.defineProperty(aws, 'throttle', { configurable: true, writable: true, value: false });
}

function config(d: string): Record<string, unknown> {
  const bearer = { type: 'bearer' };
  const cred = (ref: string, more: Record<string, unknown> = {}) => ({
    backend: 'aws',
    ref,
    inject: bearer,
    origins: [upstream.origin],
    cacheTtlSeconds: 60,
    ...more,
  });
  const tool = (credential: string) => ({
    description: 'GET a repository',
    permission: 'api:read',
    credential,
    request: { method: 'GET', url: `${upstream.origin}/repos/{owner}/{repo}` },
    input: {
      type: 'object',
      properties: { owner: { type: 'string' }, repo: { type: 'string' } },
      required: ['owner', 'repo'],
    },
  });
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
      aws: {
        type: 'aws-secrets-manager',
        region: 'us-east-1',
        endpoint: aws.url,
        credentials: {
          accessKeyId: { file: 'aws-access-key-id' },
          secretAccessKey: { file: path.join(d, 'aws-secret') },
        },
        timeoutMs: 1000,
        retries: 2,
      },
    },
    credentials: {
      api: cred('keyward/api'),
      // An explicit AWSCURRENT is its own cache entry: this one is never cached.
      api_live: cred('keyward/api', { stage: 'AWSCURRENT', cacheTtlSeconds: 0 }),
      doomed: cred('keyward/doomed'),
      denied: cred('keyward/denied', { cacheTtlSeconds: 0 }),
      tenant: cred('tenants/{tenant}/api'),
    },
    tools: {
      get_api: tool('api'),
      get_live: tool('api_live'),
      get_doomed: tool('doomed'),
      get_denied: tool('denied'),
      get_tenant: tool('tenant'),
    },
    policy: { rules: [{ id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] }] },
    audit: { type: 'sqlite', path: path.join(d, 'audit.db') },
    grants: { store: 'memory' },
    logging: { level: 'debug' },
  };
}

beforeAll(async () => {
  aws = new AwsSmEmulator();
  await aws.start();
  aws.create('keyward/api', API_V1);
  aws.create('keyward/doomed', DOOMED);
  aws.create('keyward/denied', DENIED);
  aws.create('tenants/acme/api', ACME);
  aws.create('tenants/globex/api', GLOBEX);
  aws.deniedSecrets.add('keyward/denied');
  upstream = await startUpstream([API_V1, DOOMED, DENIED, ACME, GLOBEX]);
  const dir = tempDir('keyward-aws-');
  writeFileSync(path.join(dir, 'aws-access-key-id'), ACCESS_KEY_ID, { mode: 0o600 });
  writeFileSync(path.join(dir, 'aws-secret'), `${SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
  configPath = path.join(dir, 'tools.config.json');
  writeJson(configPath, config(dir));
  alice = await open('alice');
});

afterAll(async () => {
  for (const s of sessions) await s.close().catch(() => undefined);
  await upstream?.close();
  await aws?.stop();
});

const args = { owner: 'acme', repo: 'widgets' };

describe('AWS Secrets Manager over stdio', () => {
  it('a call succeeds with exactly the stored value (one GetSecretValue, then cached)', async () => {
    const from = upstream.requests.length;
    const result = ok(await call(alice, 'get_api', args));
    expect((result.structuredContent as { body: unknown }).body).toEqual({
      owner: 'acme',
      repo: 'widgets',
      stars: 42,
    });
    ok(await call(alice, 'get_api', args));
    expect(sentKeys(from)).toEqual([API_V1, API_V1]);
    expect(gets('keyward/api')).toBe(1);
  });

  it('throttling is retried with backoff, then the call succeeds', async () => {
    const before = gets('keyward/api');
    throttleNext(2);
    try {
      ok(await call(alice, 'get_live', args));
    } finally {
      stopThrottling();
    }
    // Two throttled attempts and the third, successful one.
    expect(gets('keyward/api') - before).toBe(3);
  });

  it('throttling that does not stop → secret_backend_unavailable with a retry hint after the capped retries', async () => {
    const before = gets('keyward/api');
    aws.throttle = true;
    try {
      const e = error(await call(alice, 'get_live', args));
      expect(e.code).toBe('secret_backend_unavailable');
      expect(e.retryable).toBe(true);
      expect(e.retryAfterSeconds as number).toBeGreaterThan(0);
    } finally {
      aws.throttle = false;
    }
    expect(gets('keyward/api') - before).toBe(3);
    ok(await call(alice, 'get_live', args));
  });

  it('AccessDeniedException → credential_invalid at once, with no retry', async () => {
    const from = upstream.requests.length;
    const e = error(await call(alice, 'get_denied', args));
    expect(e.code).toBe('credential_invalid');
    expect(e.retryable).toBe(false);
    expect(String(e.message)).not.toMatch(/arn:|123456789012|keyward\/denied/);
    expect(gets('keyward/denied')).toBe(1);
    expect(upstream.requests.length).toBe(from);
  });

  it('a secret marked for deletion → credential_revoked; the cached copy is evicted, not served', async () => {
    ok(await call(alice, 'get_doomed', args));
    expect(gets('keyward/doomed')).toBe(1);
    aws.markForDeletion('keyward/doomed');
    upstream.options.acceptedKeys.delete(DOOMED);
    const e = error(await call(alice, 'get_doomed', args));
    expect(e.code).toBe('credential_revoked');
    expect(e.retryable).toBe(false);
    // Even if the API still took it, the old value is not served from cache: AWS is asked again.
    upstream.options.acceptedKeys.add(DOOMED);
    const from = upstream.requests.length;
    const reads = gets('keyward/doomed');
    expect(error(await call(alice, 'get_doomed', args)).code).toBe('credential_revoked');
    expect(gets('keyward/doomed') - reads).toBe(1);
    expect(upstream.requests.length).toBe(from);
  });

  it('`keyward secrets rotate --backend aws` (PutSecretValue): the next call re-fetches once and succeeds', async () => {
    const rotate = await cli(['secrets', 'rotate', 'keyward/api', '--backend', 'aws'], `${API_V2}\n`);
    expect(rotate.code, rotate.stderr).toBe(0);
    const version = aws.versionIdOf('keyward/api', 'AWSCURRENT');
    expect(rotate.stdout).toBe(`rotated keyward/api to version ${version} in backend "aws"\n`);
    upstream.options.acceptedKeys = new Set([API_V2, DOOMED, ACME, GLOBEX]);
    const from = upstream.requests.length;
    const reads = gets('keyward/api');
    ok(await call(alice, 'get_api', args));
    expect(sentKeys(from)).toEqual([API_V1, API_V2]);
    expect(gets('keyward/api') - reads).toBe(1);
  });

  it('`--trigger` (RotateSecret → AWSPENDING): the re-fetch after the 401 tries AWSPENDING and succeeds', async () => {
    aws.rotator = () => API_V3;
    const rotate = await cli(['secrets', 'rotate', 'keyward/api', '--backend', 'aws', '--trigger']);
    expect(rotate.code, rotate.stderr).toBe(0);
    const pending = aws.versionIdOf('keyward/api', 'AWSPENDING');
    expect(pending).toBeDefined();
    expect(rotate.stdout).toBe(`rotated keyward/api to version ${pending} in backend "aws"\n`);
    // The rotation function has set the new key at the API but not finished the rotation yet.
    upstream.options.acceptedKeys = new Set([API_V3, DOOMED, ACME, GLOBEX]);
    const from = upstream.requests.length;
    const before = aws.count('GetSecretValue');
    ok(await call(alice, 'get_api', args));
    expect(sentKeys(from)).toEqual([API_V2, API_V3]);
    expect(aws.count('GetSecretValue') - before).toBe(2); // AWSCURRENT (the rejected one), then AWSPENDING
    // finishSecret moves AWSCURRENT: a fresh read now gets the same value from AWSCURRENT.
    aws.finishRotation('keyward/api');
    const next = upstream.requests.length;
    ok(await call(alice, 'get_live', args));
    ok(await call(alice, 'get_api', args));
    expect(sentKeys(next)).toEqual([API_V3, API_V3]);
  });

  it('500 concurrent calls on a cold cache make exactly one GetSecretValue per key', async () => {
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => call(alice, 'get_tenant', { owner: 'o', repo: `r${i}` })),
    );
    for (const r of results) ok(r);
    expect(gets('tenants/acme/api')).toBe(1);
  });

  it("tenant isolation: B's principal never reads A's secret, whatever the arguments; no secret → credential_not_found", async () => {
    const bob = await open('bob');
    const acme = gets('tenants/acme/api');
    const from = upstream.requests.length;
    for (const owner of ['acme', '../acme', 'tenants/acme/api', '{tenant}', '%2e%2e%2facme']) {
      ok(await call(bob, 'get_tenant', { owner, repo: 'api' }));
    }
    expect(gets('tenants/acme/api')).toBe(acme);
    expect(gets('tenants/globex/api')).toBe(1);
    expect(new Set(sentKeys(from))).toEqual(new Set([GLOBEX]));

    const carol = await open('carol');
    const e = error(await call(carol, 'get_tenant', { owner: 'acme', repo: 'api' }));
    expect(e.code).toBe('credential_not_found');
    for (const word of ['acme', 'globex', 'initech', 'tenants/'])
      expect(String(e.message)).not.toContain(word);
    expect(gets('tenants/acme/api')).toBe(acme);
  });

  it('no canary appears in any result, error, CLI output or the debug-level stderr of the servers', async () => {
    for (const s of sessions) await s.close();
    expect(sessions[0]?.stderr()).toContain('keyward serving on stdio');
    const sent = upstream.requests.map((r) => String(r.headers.authorization)).join('\n');
    for (const canary of [API_V1, API_V2, API_V3, DOOMED, ACME, GLOBEX]) expect(sent).toContain(canary);
    const everything = [...outputs, ...sessions.map((s) => s.stderr())].join('\n');
    for (const canary of CANARIES) expect(findCanary(everything, canary), canary).toEqual([]);
  });
});
