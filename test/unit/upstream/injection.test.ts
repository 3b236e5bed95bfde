// Injectors: each kind places the credential exactly once, only for configured origins, and reports what it placed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectSchema, toolSchema, type InjectConfig } from '../../../src/config/schema.js';
import { ConfigError, KeywardError } from '../../../src/core/errors.js';
import type { Secret } from '../../../src/core/types.js';
import { createHttpClient, type HttpClient } from '../../../src/upstream/http-client.js';
import { createInjector } from '../../../src/upstream/injection.js';
import type { OutboundRequest } from '../../../src/upstream/outbound-request.js';
import { compileRequestTemplate } from '../../../src/upstream/request-template.js';
import { startServer, type RecordingServer } from './recording-server.js';

const SECRET = 'cnry_Q7x2LmN4pR8sT1vW3yZ5aB6cD9eF0gH';
const secret = (over: Partial<Secret> = {}): Secret => ({
  value: SECRET,
  version: '1',
  keyId: 'test:key',
  ...over,
});
const ctx = { forceRefresh: false };
const LIMITS = { connectMs: 2000, headersMs: 2000, totalMs: 5000, maxResponseBytes: 1 << 20 };

function inject(config: unknown): InjectConfig {
  return injectSchema.parse(config);
}

function requestTo(origin: string, path = '/echo'): OutboundRequest {
  return { method: 'GET', url: new URL(origin + path), headers: {}, body: undefined };
}

describe('createInjector (in memory)', () => {
  const origin = 'https://api.example.com';

  it('header: formats the value and returns the raw and formatted strings', async () => {
    const injector = createInjector(
      inject({ type: 'header', header: 'X-Api-Key', format: 'Token {value}' }),
      {
        origins: [origin],
      },
    );
    const req = requestTo(origin);
    const placed = await injector.inject(req, secret(), ctx);
    expect(req.headers['x-api-key']).toBe(`Token ${SECRET}`);
    // the formatted value starts with public text: it is matched only whole (no oracle)
    expect(placed).toEqual([
      { value: SECRET, partials: true },
      { value: `Token ${SECRET}`, partials: false },
    ]);
  });

  it('bearer: sets Authorization', async () => {
    const req = requestTo(origin);
    const placed = await createInjector(inject({ type: 'bearer' }), { origins: [origin] }).inject(
      req,
      secret(),
      ctx,
    );
    expect(req.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(placed).toEqual([
      { value: SECRET, partials: true },
      { value: `Bearer ${SECRET}`, partials: false },
    ]);
  });

  it('query: sets exactly one parameter, replacing any other value', async () => {
    const req = requestTo(origin, '/x?api_key=attacker&a=1');
    await createInjector(inject({ type: 'query', param: 'api_key' }), { origins: [origin] }).inject(
      req,
      secret(),
      ctx,
    );
    expect(req.url.searchParams.getAll('api_key')).toEqual([SECRET]);
    expect(req.url.searchParams.get('a')).toBe('1');
  });

  it('basic: username and password from fields', async () => {
    const req = requestTo(origin);
    const placed = await createInjector(inject({ type: 'basic' }), { origins: [origin] }).inject(
      req,
      secret({ fields: { username: 'alice', password: SECRET } }),
      ctx,
    );
    const b64 = Buffer.from(`alice:${SECRET}`).toString('base64');
    expect(req.headers.authorization).toBe(`Basic ${b64}`);
    // base64(user:pass) starts with the username: matched only whole, like the header value
    expect(placed).toEqual([
      { value: SECRET, partials: true },
      { value: b64, partials: false },
      { value: `Basic ${b64}`, partials: false },
    ]);
  });

  it('basic: fixed username and password from the value when fields are absent', async () => {
    const req = requestTo(origin);
    await createInjector(inject({ type: 'basic', username: 'svc' }), { origins: [origin] }).inject(
      req,
      secret(),
      ctx,
    );
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`);
  });

  it('basic: a missing field is credential_not_found and never names the value', async () => {
    const injector = createInjector(inject({ type: 'basic' }), { origins: [origin] });
    await expect(injector.inject(requestTo(origin), secret(), ctx)).rejects.toMatchObject({
      code: 'credential_not_found',
    });
    const err = await injector
      .inject(requestTo(origin), secret({ fields: { username: 'alice' } }), ctx)
      .catch((e: unknown) => e as KeywardError);
    expect(err).toBeInstanceOf(KeywardError);
    expect((err as KeywardError).code).toBe('credential_not_found');
    expect((err as KeywardError).message).toContain('password');
    expect((err as KeywardError).message).not.toContain(SECRET);
  });

  it('refuses an origin that is not configured, naming the origin', async () => {
    const injector = createInjector(inject({ type: 'bearer' }), { origins: [origin] });
    for (const other of ['https://evil.example', 'http://api.example.com', 'https://api.example.com:8443']) {
      const req = requestTo(other);
      const err = (await injector.inject(req, secret(), ctx).catch((e: unknown) => e)) as KeywardError;
      expect(err.code).toBe('credential_invalid');
      expect(err.message).toContain(new URL(other).origin);
      expect(req.headers.authorization).toBeUndefined();
    }
  });

  it('normalizes configured origins (default port, trailing slash)', async () => {
    const injector = createInjector(inject({ type: 'bearer' }), {
      origins: ['https://api.example.com:443/'],
    });
    await expect(injector.inject(requestTo(origin), secret(), ctx)).resolves.toBeDefined();
  });

  it('rejects a value that would inject a header line, without quoting it', async () => {
    const injector = createInjector(inject({ type: 'bearer' }), { origins: [origin] });
    const err = (await injector
      .inject(requestTo(origin), secret({ value: 'abc\r\nX-Evil: 1' }), ctx)
      .catch((e: unknown) => e)) as KeywardError;
    expect(err.code).toBe('credential_invalid');
    expect(err.message).not.toContain('X-Evil');
  });

  it('an empty value is credential_not_found', async () => {
    const injector = createInjector(inject({ type: 'bearer' }), { origins: [origin] });
    await expect(injector.inject(requestTo(origin), secret({ value: '' }), ctx)).rejects.toMatchObject({
      code: 'credential_not_found',
    });
  });

  it('OAuth2 types are not wired in this module', () => {
    const cfg = inject({ type: 'oauth2-client-credentials', tokenUrl: 'https://auth.example.com/token' });
    expect(() => createInjector(cfg, { origins: [origin] })).toThrow(ConfigError);
  });
});

describe('injection received exactly by a real upstream', () => {
  let server: RecordingServer;
  let http: HttpClient;
  beforeAll(async () => {
    server = await startServer();
    http = createHttpClient();
  });
  afterAll(async () => {
    await http.close();
    await server.close();
  });

  const build = (credential: unknown, request: Record<string, unknown> = {}) => {
    const injectConfig = inject(credential);
    const tool = toolSchema.parse({
      permission: 'p',
      request: { method: 'GET', url: `${server.origin}/items/{id}`, ...request },
    });
    return {
      template: compileRequestTemplate('t', tool, { inject: injectConfig }),
      injector: createInjector(injectConfig, { origins: [server.origin] }),
    };
  };

  it.each([
    [{ type: 'header', header: 'X-Api-Key' }, 'x-api-key', SECRET],
    [{ type: 'bearer' }, 'authorization', `Bearer ${SECRET}`],
    [
      { type: 'basic', username: 'svc' },
      'authorization',
      `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`,
    ],
  ])('%j arrives once as header %s', async (config, header, expected) => {
    const { template, injector } = build(config);
    const req = template.build({ id: '../admin' });
    await injector.inject(req, secret(), ctx);
    await http.send(req, LIMITS);
    const got = server.requests.at(-1)!;
    expect(got.url).toBe('/items/..%2Fadmin');
    expect(got.headers[header]).toBe(expected);
    const occurrences = got.rawHeaders.filter((h) => h.includes(SECRET) || h === expected).length;
    expect(occurrences).toBe(1);
    expect(got.url).not.toContain(SECRET);
  });

  it('query: the key arrives once in the query string and nowhere else', async () => {
    const { template, injector } = build({ type: 'query', param: 'key' }, { query: { q: '{q}' } });
    const req = template.build({ id: '1', q: 'key=stolen&key=x' });
    await injector.inject(req, secret(), ctx);
    await http.send(req, LIMITS);
    const got = server.requests.at(-1)!;
    const search = new URL(got.url, server.origin).searchParams;
    expect(search.getAll('key')).toEqual([SECRET]);
    expect(search.get('q')).toBe('key=stolen&key=x');
    expect(got.rawHeaders.join('\n')).not.toContain(SECRET);
  });

  it('header-injection attempts through arguments never add a header upstream', async () => {
    const { template, injector } = build({ type: 'bearer' }, { headers: { 'X-Trace': '{t}' } });
    for (const attack of ['\r\nX-Injected: 1', '%0d%0aX-Injected: 1']) {
      let req: OutboundRequest;
      try {
        req = template.build({ id: attack, t: attack });
      } catch (error) {
        expect((error as KeywardError).code).toBe('invalid_arguments');
        req = template.build({ id: attack });
      }
      await injector.inject(req, secret(), ctx);
      await http.send(req, LIMITS);
      const got = server.requests.at(-1)!;
      expect(got.headers['x-injected']).toBeUndefined();
      expect(got.url.startsWith('/items/')).toBe(true);
      expect(got.url.split('/')).toHaveLength(3);
    }
  });
});
