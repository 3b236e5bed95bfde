/**
 * The credential session alone (src/server/credential-session.ts), with a fake resolver and a fake
 * HTTP client: resolve → derive + inject → send, one re-fetch and retry after a 401/403, then
 * credential_invalid; the derived token dropped on rejection; what it records for audit and
 * redaction.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { KeywardError } from '../../../src/core/errors.js';
import type { Principal, Secret } from '../../../src/core/types.js';
import type { ResolveOptions } from '../../../src/secrets/credential-resolver.js';
import { compileTools } from '../../../src/server/compile-tools.js';
import type { CompiledTool } from '../../../src/server/compiled-tool.js';
import {
  CredentialSession,
  newCredentialRecord,
  type SessionCall,
} from '../../../src/server/credential-session.js';
import type { UpstreamResponse } from '../../../src/upstream/http-client.js';
import { OriginBreakers } from '../../../src/upstream/origin-breakers.js';
import type { InjectContext, Injector, OutboundRequest } from '../../../src/upstream/outbound-request.js';

const ORIGIN = 'https://api.example.test';
const principal: Principal = { agent: 'a', tenant: 't', roles: [], attributes: {}, authMethod: 'stdio' };

function compiled(name: 'with_key' | 'public'): CompiledTool {
  const loaded = parseConfig({
    agents: { a: { roles: ['r'], tenant: 't' } },
    identity: { stdio: { agent: 'a' } },
    backends: {
      local: { type: 'file', path: '/nonexistent/secrets.enc', keyPath: '/nonexistent/master.key' },
    },
    credentials: {
      api: { backend: 'local', ref: 'api', inject: { type: 'bearer' }, origins: [ORIGIN] },
    },
    tools: {
      with_key: { permission: 'p:read', credential: 'api', request: { method: 'GET', url: `${ORIGIN}/x` } },
      public: { permission: 'p:read', request: { method: 'GET', url: `${ORIGIN}/public` } },
    },
    policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
  });
  const tool = compileTools(loaded.config).get(name);
  if (tool === undefined) throw new Error(name);
  return tool;
}

/** A store whose current version the test rotates; records every resolve and invalidate. */
class FakeResolver {
  current: Secret = { value: 'key-v1-SECRET', version: 'v1', keyId: 'file:api' };
  cached: Secret | undefined = this.current;
  readonly resolves: ResolveOptions[] = [];
  invalidations = 0;

  resolve(_id: string, _principal: Principal, options: ResolveOptions = {}): Promise<Secret> {
    this.resolves.push(options);
    if (options.forceRefresh === true || this.cached === undefined) this.cached = this.current;
    return Promise.resolve(this.cached);
  }

  invalidate(): Promise<void> {
    this.invalidations++;
    this.cached = undefined;
    return Promise.resolve();
  }
}

/** Answers with the statuses given, in order (the last one repeats); records each request. */
class FakeHttp {
  readonly requests: OutboundRequest[] = [];
  constructor(private readonly statuses: number[]) {}

  send(request: OutboundRequest): Promise<UpstreamResponse> {
    this.requests.push({ ...request, headers: { ...request.headers } });
    const status = this.statuses.length > 1 ? this.statuses.shift()! : this.statuses[0]!;
    return Promise.resolve({
      status,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(status === 200 ? '{"ok":true}' : '{}'),
      durationMs: 1,
    });
  }
}

function callOf(tool: CompiledTool): SessionCall {
  return { tool, args: {}, principal, requestId: 'r1', signal: undefined, elicitor: undefined };
}

describe('CredentialSession', () => {
  it('ok on the first attempt: one resolve, the credential injected, the record filled', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([200]);
    const session = new CredentialSession({ resolver, http });
    const record = newCredentialRecord();
    const outcome = await session.run(callOf(compiled('with_key')), record);
    expect(outcome.kind).toBe('ok');
    if (outcome.kind === 'ok') expect(outcome.result).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(http.requests[0]!.headers.authorization).toBe('Bearer key-v1-SECRET');
    expect(resolver.resolves).toHaveLength(1);
    expect(resolver.resolves[0]!.forceRefresh).toBe(false);
    expect(record).toMatchObject({ upstreamStatus: 200, refetched: false, secret: { version: 'v1' } });
    expect(record.injected.map((t) => t.value)).toContain('key-v1-SECRET');
  });

  it('rotation: one 401 → re-fetch (forceRefresh, rejectedVersion) → retry once → ok', async () => {
    const resolver = new FakeResolver();
    resolver.current = { value: 'key-v2-SECRET', version: 'v2', keyId: 'file:api' }; // rotated; cache holds v1
    const http = new FakeHttp([401, 200]);
    const session = new CredentialSession({ resolver, http });
    const record = newCredentialRecord();
    const outcome = await session.run(callOf(compiled('with_key')), record);
    expect(outcome.kind).toBe('ok');
    expect(http.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer key-v1-SECRET',
      'Bearer key-v2-SECRET',
    ]);
    expect(resolver.resolves.map((o) => [o.forceRefresh, o.rejectedVersion, o.rejectedStatus])).toEqual([
      [false, undefined, undefined],
      [true, 'v1', 401],
    ]);
    expect(resolver.invalidations).toBe(0);
    expect(record).toMatchObject({ upstreamStatus: 200, refetched: true, secret: { version: 'v2' } });
    // Both values were sent, so both are redacted.
    expect(record.injected.map((t) => t.value)).toEqual(
      expect.arrayContaining(['key-v1-SECRET', 'key-v2-SECRET']),
    );
  });

  it('a 403 re-fetches with the status, so a user connection can tell it from a 401', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([403, 200]);
    const outcome = await new CredentialSession({ resolver, http }).run(
      callOf(compiled('with_key')),
      newCredentialRecord(),
    );
    expect(outcome.kind).toBe('ok');
    expect(resolver.resolves[1]).toMatchObject({ forceRefresh: true, rejectedStatus: 403 });
  });

  it('two 401s → credential-invalid, the cached credential dropped, no third attempt', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([401, 401, 200]);
    const session = new CredentialSession({ resolver, http });
    const record = newCredentialRecord();
    const outcome = await session.run(callOf(compiled('with_key')), record);
    expect(outcome).toEqual({ kind: 'credential-invalid', status: 401 });
    expect(http.requests).toHaveLength(2);
    expect(resolver.resolves).toHaveLength(2);
    expect(resolver.invalidations).toBe(1);
    expect(record).toMatchObject({ upstreamStatus: 401, refetched: true });
  });

  it('the derived (OAuth2) token is dropped on rejection and derived again with forceRefresh', async () => {
    const contexts: InjectContext[] = [];
    let invalidated = 0;
    let token = 0;
    const injector: Injector = {
      inject(request, secret, context) {
        contexts.push(context);
        const derived = `derived-${++token}-from-${secret.version}`;
        request.headers.authorization = `Bearer ${derived}`;
        return Promise.resolve([{ value: derived, partials: true }]);
      },
      invalidate() {
        invalidated++;
      },
    };
    const tool: CompiledTool = { ...compiled('with_key'), injector };
    const resolver = new FakeResolver();
    const http = new FakeHttp([403, 403]);
    const outcome = await new CredentialSession({ resolver, http }).run(callOf(tool), newCredentialRecord());
    expect(outcome).toEqual({ kind: 'credential-invalid', status: 403 });
    expect(contexts.map((c) => c.forceRefresh)).toEqual([false, true]);
    // Once before the retry, once after the final rejection.
    expect(invalidated).toBe(2);
    expect(http.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer derived-1-from-v1',
      'Bearer derived-2-from-v1',
    ]);
  });

  it('a tool without a credential: a 401 is returned as auth-rejected, nothing re-fetched or retried', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([401]);
    const record = newCredentialRecord();
    const outcome = await new CredentialSession({ resolver, http }).run(callOf(compiled('public')), record);
    expect(outcome).toEqual({ kind: 'auth-rejected', status: 401 });
    expect(http.requests).toHaveLength(1);
    expect(resolver.resolves).toHaveLength(0);
    expect(record).toMatchObject({ secret: undefined, upstreamStatus: 401, refetched: false });
  });

  it('catalogued upstream errors are thrown, with the status recorded', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([503]);
    const record = newCredentialRecord();
    await expect(
      new CredentialSession({ resolver, http }).run(callOf(compiled('with_key')), record),
    ).rejects.toSatisfy((error) => error instanceof KeywardError && error.code === 'upstream_error');
    expect(record.upstreamStatus).toBe(503);
    expect(http.requests).toHaveLength(1);
  });

  it('a resolver failure on the re-fetch keeps the first credential in the record and sends nothing more', async () => {
    const resolver = new FakeResolver();
    const http = new FakeHttp([401, 200]);
    const failing = {
      resolve: (id: string, p: Principal, options: ResolveOptions = {}) =>
        options.forceRefresh === true
          ? Promise.reject(new KeywardError('secret_backend_unavailable', 'down'))
          : resolver.resolve(id, p, options),
      invalidate: () => resolver.invalidate(),
    };
    const record = newCredentialRecord();
    await expect(
      new CredentialSession({ resolver: failing, http }).run(callOf(compiled('with_key')), record),
    ).rejects.toSatisfy(
      (error) => error instanceof KeywardError && error.code === 'secret_backend_unavailable',
    );
    expect(http.requests).toHaveLength(1);
    expect(record).toMatchObject({ secret: { version: 'v1' }, upstreamStatus: 401, refetched: true });
  });

  it("auth rejections are not sampled by the origin's breaker (neither failures nor successes)", async () => {
    const breakers = new OriginBreakers({
      threshold: 0.5,
      minimumCalls: 2,
      windowSeconds: 10,
      openSeconds: 60,
    });
    const resolver = new FakeResolver();
    const rejecting = new CredentialSession({ resolver, http: new FakeHttp([401]), breakers });
    for (let i = 0; i < 3; i++) {
      expect((await rejecting.run(callOf(compiled('with_key')), newCredentialRecord())).kind).toBe(
        'credential-invalid',
      );
    }
    // Two 5xx after six unsampled 401s: the failure ratio is 2/2, so the breaker opens.
    const failing = new CredentialSession({ resolver, http: new FakeHttp([503]), breakers });
    for (let i = 0; i < 2; i++) {
      await expect(failing.run(callOf(compiled('with_key')), newCredentialRecord())).rejects.toMatchObject({
        code: 'upstream_error',
      });
    }
    const http = new FakeHttp([200]);
    await expect(
      new CredentialSession({ resolver, http, breakers }).run(
        callOf(compiled('with_key')),
        newCredentialRecord(),
      ),
    ).rejects.toMatchObject({ code: 'upstream_error', message: expect.stringContaining('circuit open') });
    expect(http.requests).toHaveLength(0);
  });
});
