/**
 * OpenTelemetry traces (issue 17): real tool calls through an MCP session with an in-memory
 * exporter. Checks the span tree (names, parent/child, attributes), that a client's
 * `_meta.traceparent` becomes the call span's parent, that the upstream receives a `traceparent`
 * naming the upstream request's span, and that no span (name, attributes, events, status, links)
 * carries the key in any form — when the upstream echoes it, when it lands in the query string,
 * when the call fails and when the upstream rejects it.
 */
import { createGateway } from '../../../src/server/compose.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type LoadedConfig } from '../../../src/config/load.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import { parseTraceParent, tracingRequested } from '../../../src/observability/tracing.js';
import type { Gateway } from '../../../src/server/gateway.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { createSessionServer } from '../../../src/server/session-server.js';
import { startUpstream, type Upstream } from '../../fixtures/upstream.js';
import { findCanary, makeCanary } from '../../helpers/canary.js';
import { tempDir } from '../../helpers/cli.js';

const KEY = makeCanary('kwtrace');
const QUERY_KEY = makeCanary('kwtraceq');
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

let upstream: Upstream;
let gateway: Gateway;
let client: Client;
let loaded: LoadedConfig;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

function rawConfig(dir: string): Record<string, unknown> {
  const get = (path: string, credential = 'api', permission = 'api:read') => ({
    permission,
    credential,
    request: { method: 'GET', url: `${upstream.origin}${path}` },
  });
  return {
    agents: { a: { roles: ['r'], tenant: 't' } },
    identity: { stdio: { agent: 'a' } },
    backends: { env: { type: 'env' } },
    credentials: {
      api: { backend: 'env', ref: 'trace_api', inject: { type: 'bearer' }, origins: [upstream.origin] },
      q: {
        backend: 'env',
        ref: 'trace_query',
        inject: { type: 'query', param: 'api_key' },
        origins: [upstream.origin],
      },
    },
    tools: {
      get_repo: {
        permission: 'api:read',
        credential: 'api',
        request: { method: 'GET', url: `${upstream.origin}/repos/{owner}/{repo}` },
        input: {
          type: 'object',
          properties: { owner: { type: 'string' }, repo: { type: 'string' } },
          required: ['owner', 'repo'],
        },
      },
      echo_raw: get('/echo/raw'),
      echo_encodings: get('/echo/encodings'),
      echo_query: get('/echo/raw', 'q'),
      server_error: get('/status/503'),
      admin: get('/public', 'api', 'admin:write'),
    },
    policy: { rules: [{ id: 'reads', effect: 'allow', permissions: ['api:read'] }] },
    audit: { type: 'sqlite', path: `${dir}/audit.db` },
    grants: { store: 'memory' },
  };
}

beforeAll(async () => {
  upstream = await startUpstream([KEY, QUERY_KEY]);
  process.env.KEYWARD_SECRET_TRACE_API = KEY;
  process.env.KEYWARD_SECRET_TRACE_QUERY = QUERY_KEY;
  const dir = tempDir();
  loaded = parseConfig(rawConfig(dir));
  gateway = await createGateway(loaded, {
    logger: silentLogger(),
    secrets: new SecretRegistry(),
    tracer: provider.getTracer('keyward-test'),
  });
  const server = createSessionServer(gateway, principalFromConfig(loaded.config, undefined));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  client = new Client({ name: 'trace-test', version: '1.0.0' });
  await client.connect(clientSide);
});

afterAll(async () => {
  await client.close();
  await gateway.close();
  await provider.shutdown();
  await upstream.close();
  delete process.env.KEYWARD_SECRET_TRACE_API;
  delete process.env.KEYWARD_SECRET_TRACE_QUERY;
});

afterEach(() => exporter.reset());

interface Called {
  readonly isError: boolean;
  readonly code: string | undefined;
}

async function call(name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) {
  const result = await client.callTool({
    name,
    arguments: args,
    ...(meta === undefined ? {} : { _meta: meta }),
  });
  const error = (result.structuredContent as { error?: { code: string } } | undefined)?.error;
  return { isError: result.isError === true, code: error?.code } satisfies Called;
}

/** Every string a span exports: name, attributes, events, status, links, resource, scope. */
function everything(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    events: span.events,
    status: span.status,
    links: span.links,
    resource: span.resource.attributes,
    scope: span.instrumentationScope,
  });
}

function expectNoCanary(spans: readonly ReadableSpan[]): void {
  expect(spans.length).toBeGreaterThan(0);
  for (const span of spans) {
    const text = everything(span);
    expect(findCanary(text, KEY), `${span.name}: ${text}`).toEqual([]);
    expect(findCanary(text, QUERY_KEY), `${span.name}: ${text}`).toEqual([]);
  }
}

function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name);
}

function one(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = byName(spans, name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
}

function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

describe('tracing', () => {
  it('a call is a tools/call span with one child per step, a child of _meta.traceparent', async () => {
    const before = upstream.requests.length;
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const result = await call(
      'get_repo',
      { owner: 'octo', repo: 'hello' },
      { traceparent, tracestate: 'vendor=abc' },
    );
    expect(result.isError).toBe(false);
    const spans = exporter.getFinishedSpans();
    const root = one(spans, 'tools/call get_repo');
    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.spanContext().traceId).toBe(CLIENT_TRACE);
    expect(parentId(root)).toBe(CLIENT_SPAN);
    expect(root.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'get_repo',
      'keyward.tool': 'get_repo',
      'keyward.permission': 'api:read',
      'keyward.decision': 'allow',
      'keyward.agent': 'a',
      'keyward.tenant': 't',
      'keyward.upstream.status_code': 200,
      'keyward.credential.key_id': expect.any(String),
      'keyward.credential.version': expect.any(String),
    });
    expect(root.status.code).toBe(SpanStatusCode.UNSET);

    const names = spans.filter((s) => s !== root).map((s) => s.name);
    expect(names.sort()).toEqual(
      ['audit.end', 'audit.start', 'authorize', 'credential.resolve', 'redact', 'upstream.request'].sort(),
    );
    for (const span of spans) {
      expect(span.spanContext().traceId).toBe(CLIENT_TRACE);
      if (span !== root) expect(parentId(span)).toBe(root.spanContext().spanId);
    }
    // Steps in order: authorize → audit.start → credential → upstream → redact → audit.end.
    const start = (name: string) => one(spans, name).startTime;
    const order = [
      'authorize',
      'audit.start',
      'credential.resolve',
      'upstream.request',
      'redact',
      'audit.end',
    ];
    const times = order.map((n) => start(n)[0] * 1e9 + start(n)[1]);
    expect([...times].sort((x, y) => x - y)).toEqual(times);

    expect(one(spans, 'authorize').attributes).toMatchObject({
      'keyward.decision': 'allow',
      'keyward.rule_ids': ['reads'],
    });
    const credential = one(spans, 'credential.resolve').attributes;
    expect(credential['keyward.credential.id']).toBe('api');
    expect(['hit', 'miss']).toContain(credential['keyward.credential.cache']);
    expect(credential['keyward.credential.key_id']).toBe(root.attributes['keyward.credential.key_id']);
    const upstreamSpan = one(spans, 'upstream.request');
    expect(upstreamSpan.kind).toBe(SpanKind.CLIENT);
    expect(upstreamSpan.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
      'url.scheme': 'http',
    });
    // No path, no query, no URL at all.
    expect(JSON.stringify(upstreamSpan.attributes)).not.toContain('/repos/');

    // The upstream received a traceparent naming the upstream request's span, and the tracestate.
    expect(upstream.requests.length).toBe(before + 1);
    const headers = upstream.requests.at(-1)!.headers;
    expect(headers.traceparent).toBe(`00-${CLIENT_TRACE}-${upstreamSpan.spanContext().spanId}-01`);
    expect(headers.tracestate).toBe('vendor=abc');
    expectNoCanary(spans);
  });

  it('reports cache hit on a second call, and starts a new trace without _meta', async () => {
    await call('echo_raw');
    exporter.reset();
    const result = await call('echo_raw');
    expect(result.isError).toBe(false);
    const spans = exporter.getFinishedSpans();
    const root = one(spans, 'tools/call echo_raw');
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.spanContext().traceId).not.toBe(CLIENT_TRACE);
    expect(one(spans, 'credential.resolve').attributes['keyward.credential.cache']).toBe('hit');
    const upstreamSpan = one(spans, 'upstream.request');
    expect(upstream.requests.at(-1)!.headers.traceparent).toBe(
      `00-${root.spanContext().traceId}-${upstreamSpan.spanContext().spanId}-01`,
    );
    expect(upstream.requests.at(-1)!.headers.tracestate).toBeUndefined();
  });

  it('a malformed traceparent is ignored (new trace), never copied upstream', async () => {
    for (const bad of [
      `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`,
      `ff-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
      `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01-extra`,
      `00-${KEY}`,
      42,
    ]) {
      exporter.reset();
      expect((await call('echo_raw', {}, { traceparent: bad })).isError).toBe(false);
      const spans = exporter.getFinishedSpans();
      const root = one(spans, 'tools/call echo_raw');
      expect(root.parentSpanContext).toBeUndefined();
      expect(upstream.requests.at(-1)!.headers.traceparent).toMatch(
        new RegExp(`^00-${root.spanContext().traceId}-[0-9a-f]{16}-01$`),
      );
      expectNoCanary(spans);
    }
  });

  it('a tracestate goes upstream only when it is valid W3C syntax', async () => {
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    await call('echo_raw', {}, { traceparent, tracestate: 'a=b\r\nX-Evil: 1' });
    expect(upstream.requests.at(-1)!.headers.tracestate).toBeUndefined();
    expect(upstream.requests.at(-1)!.headers['x-evil']).toBeUndefined();
    await call('echo_raw', {}, { traceparent, tracestate: 'bad key=1,ok=2' });
    expect(upstream.requests.at(-1)!.headers.tracestate).toBe('ok=2');
  });

  it('no canary in any span when the upstream echoes the key in every encoding', async () => {
    for (const tool of ['echo_raw', 'echo_encodings', 'echo_query']) {
      exporter.reset();
      const result = await call(tool, {}, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
      expect(result.isError).toBe(false);
      const spans = exporter.getFinishedSpans();
      expect(one(spans, 'redact').attributes['keyward.redact.targets']).toBeGreaterThan(0);
      expectNoCanary(spans);
    }
    // The query-injected key reached the upstream (so it was there to leak), not the spans.
    expect(upstream.requests.at(-1)!.url).toContain(encodeURIComponent(QUERY_KEY));
  });

  it('a denial: authorize fails with its code, audit.rejected, nothing upstream', async () => {
    const before = upstream.requests.length;
    const result = await call('admin');
    expect(result.code).toBe('permission_denied');
    expect(upstream.requests.length).toBe(before);
    const spans = exporter.getFinishedSpans();
    const root = one(spans, 'tools/call admin');
    expect(root.status).toEqual({ code: SpanStatusCode.ERROR, message: 'permission_denied' });
    expect(root.attributes).toMatchObject({ 'error.type': 'permission_denied', 'keyward.decision': 'deny' });
    const authorize = one(spans, 'authorize');
    expect(authorize.status.code).toBe(SpanStatusCode.ERROR);
    expect(authorize.attributes['keyward.decision']).toBe('deny');
    one(spans, 'audit.rejected');
    expect(byName(spans, 'upstream.request')).toEqual([]);
    expect(byName(spans, 'credential.resolve')).toEqual([]);
    expectNoCanary(spans);
  });

  it('an upstream failure: error code and status on the call and upstream spans', async () => {
    const result = await call('server_error');
    expect(result.code).toBe('upstream_error');
    const spans = exporter.getFinishedSpans();
    const root = one(spans, 'tools/call server_error');
    expect(root.status).toEqual({ code: SpanStatusCode.ERROR, message: 'upstream_error' });
    expect(root.attributes['keyward.upstream.status_code']).toBe(503);
    const upstreamSpan = one(spans, 'upstream.request');
    expect(upstreamSpan.attributes['http.response.status_code']).toBe(503);
    expect(upstreamSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(one(spans, 'audit.end').attributes['keyward.outcome']).toBe('error');
    expectNoCanary(spans);
  });

  it('a rejected key: two credential and upstream spans (the refetch), credential_invalid, no canary', async () => {
    upstream.options.acceptedKeys.delete(KEY);
    try {
      const result = await call('echo_raw');
      expect(result.code).toBe('credential_invalid');
    } finally {
      upstream.options.acceptedKeys.add(KEY);
    }
    const spans = exporter.getFinishedSpans();
    const root = one(spans, 'tools/call echo_raw');
    expect(root.attributes).toMatchObject({
      'error.type': 'credential_invalid',
      'keyward.credential.refetched': true,
      'keyward.upstream.status_code': 401,
    });
    const resolves = byName(spans, 'credential.resolve');
    expect(resolves.map((s) => s.attributes['keyward.credential.force_refresh'])).toEqual([false, true]);
    expect(resolves[1]!.attributes['keyward.credential.cache']).toBe('miss');
    const sends = byName(spans, 'upstream.request');
    expect(sends).toHaveLength(2);
    for (const send of sends) {
      expect(send.attributes['http.response.status_code']).toBe(401);
      expect(send.attributes['error.type']).toBe('401');
    }
    expectNoCanary(spans);
  });

  it('tool templates cannot set traceparent or tracestate', async () => {
    for (const header of ['traceparent', 'TraceState']) {
      const raw = rawConfig(tempDir());
      raw.tools = {
        t: {
          permission: 'api:read',
          request: { method: 'GET', url: `${upstream.origin}/public`, headers: { [header]: 'x' } },
        },
      };
      await expect(
        (async () => {
          const g = await createGateway(parseConfig(raw), {
            logger: silentLogger(),
            secrets: new SecretRegistry(),
          });
          await g.close();
        })(),
      ).rejects.toThrow(/cannot be set by a tool/);
    }
  });
});

describe('tracing switches', () => {
  it('OTEL_* variables: on with otlp or an endpoint, off when disabled or another exporter', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(
      true,
    );
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toBe(
      false,
    );
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'false' })).toBe(true);
  });

  it('parses W3C traceparent', () => {
    expect(parseTraceParent({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` })).toMatchObject({
      traceId: CLIENT_TRACE,
      spanId: CLIENT_SPAN,
      traceFlags: 1,
      isRemote: true,
    });
    // A future version may append fields.
    expect(parseTraceParent({ traceparent: `01-${CLIENT_TRACE}-${CLIENT_SPAN}-00-more` })?.traceFlags).toBe(
      0,
    );
    expect(parseTraceParent({ traceparent: `00-${CLIENT_TRACE}-${'0'.repeat(16)}-01` })).toBeUndefined();
    expect(
      parseTraceParent({ traceparent: `00-${CLIENT_TRACE.toUpperCase()}-${CLIENT_SPAN}-01` }),
    ).toBeUndefined();
  });

  it('without a tracer the gateway builds no span (the API has no provider registered)', async () => {
    const plain = await createGateway(parseConfig(rawConfig(tempDir())), {
      logger: silentLogger(),
      secrets: new SecretRegistry(),
      env: {},
    });
    try {
      exporter.reset();
      const result = await plain.callTool(
        'echo_raw',
        {},
        {
          principal: principalFromConfig(loaded.config, undefined),
          sessionId: undefined,
          signal: undefined,
          elicitor: undefined,
          traceParent: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
        },
      );
      expect(result.isError).toBeFalsy();
      expect(exporter.getFinishedSpans()).toEqual([]);
      expect(upstream.requests.at(-1)!.headers.traceparent).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});
