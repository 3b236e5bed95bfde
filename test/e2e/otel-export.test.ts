/**
 * `keyward serve` with the standard OTEL_* variables exports its spans over OTLP/HTTP to a
 * collector (here a node:http server on 127.0.0.1 receiving /v1/traces): the call span and its
 * children, the client's trace id, service.name from OTEL_SERVICE_NAME, flushed at shutdown; the
 * upstream gets a traceparent; neither the API key nor the collector's own key appears in an export
 * or a log line.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { findCanary, makeCanary } from '../helpers/canary.js';
import { connectStdio, makeWorkspace } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { startReplica } from '../helpers/http-replica.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const KEY = makeCanary('kwotel');
const COLLECTOR_KEY = makeCanary('kwcollector');
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

interface Export {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

let upstream: Upstream;
let collector: Server;
let collectorUrl: string;
let configPath: string;
const exports: Export[] = [];

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  ({ configPath } = await makeWorkspace((dir) => coreConfig(dir, upstream.origin), { api: KEY }));
});

afterAll(async () => {
  await upstream?.close();
  await new Promise<void>((resolve) => collector.close(() => resolve()));
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

function spansOf(body: string): { service: unknown; spans: OtlpSpan[] }[] {
  const parsed = JSON.parse(body) as {
    resourceSpans: {
      resource: { attributes: { key: string; value: { stringValue?: string } }[] };
      scopeSpans: { spans: OtlpSpan[] }[];
    }[];
  };
  return parsed.resourceSpans.map((rs) => ({
    service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
    spans: rs.scopeSpans.flatMap((s) => s.spans),
  }));
}

function attr(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

describe('OTLP export from keyward serve', () => {
  it('posts the span tree to the collector named by OTEL_EXPORTER_OTLP_ENDPOINT, without secrets', async () => {
    const session = await connectStdio(configPath, {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${COLLECTOR_KEY}`,
        OTEL_SERVICE_NAME: 'keyward-e2e',
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        KEYWARD_LOG_LEVEL: 'debug',
      },
    });
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const first = await session.client.callTool({
      name: 'get_repo',
      arguments: { owner: 'octo', repo: 'hello' },
      _meta: { traceparent },
    });
    expect(first.isError).toBeFalsy();
    const echoed = await session.client.callTool({ name: 'echo_raw', arguments: {}, _meta: { traceparent } });
    expect(echoed.isError).toBeFalsy();
    expect(upstream.requests.at(-1)?.headers.traceparent).toMatch(
      new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`),
    );
    // The batch delay is a minute: what arrives was flushed by the shutdown on stdin EOF.
    await session.close();
    const deadline = Date.now() + 15_000;
    while (exports.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(exports.length).toBeGreaterThan(0);
    for (const e of exports) {
      expect(e.path).toBe('/v1/traces');
      expect(e.headers.authorization).toBe(`Bearer ${COLLECTOR_KEY}`);
      expect(findCanary(e.body, KEY)).toEqual([]);
    }
    const batches = exports.flatMap((e) => spansOf(e.body));
    expect(new Set(batches.map((b) => b.service))).toEqual(new Set(['keyward-e2e']));
    const spans = batches.flatMap((b) => b.spans);
    const root = spans.find((s) => s.name === 'tools/call get_repo');
    expect(root).toBeDefined();
    expect(root!.traceId).toBe(CLIENT_TRACE);
    expect(root!.parentSpanId).toBe(CLIENT_SPAN);
    expect(attr(root!, 'keyward.decision')).toBe('allow');
    const children = spans.filter((s) => s.parentSpanId === root!.spanId).map((s) => s.name);
    expect(children.sort()).toEqual(
      ['audit.end', 'audit.start', 'authorize', 'credential.resolve', 'redact', 'upstream.request'].sort(),
    );
    const echoRoot = spans.find((s) => s.name === 'tools/call echo_raw');
    expect(echoRoot).toBeDefined();
    const echoSend = spans.find((s) => s.parentSpanId === echoRoot!.spanId && s.name === 'upstream.request');
    expect(upstream.requests.at(-1)?.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${echoSend!.spanId}-01`);
    // The server's log named the collector's origin, never its key (nor the API key).
    const log = session.stderr();
    expect(log).toContain('tracing on');
    expect(findCanary(log, COLLECTOR_KEY)).toEqual([]);
    expect(findCanary(log, KEY)).toEqual([]);
  });

  it('serve --http: OTEL_TRACES_EXPORTER=otlp with a traces endpoint, flushed on SIGTERM', async () => {
    const before = exports.length;
    const replica = await startReplica(configPath, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collectorUrl}/custom/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    const client = new Client({ name: 'otel-http', version: '0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(replica.url)));
      const result = await client.callTool({
        name: 'echo_raw',
        arguments: {},
        _meta: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
      });
      expect(result.isError).toBeFalsy();
    } finally {
      await client.close();
      expect(await replica.stop()).toBe(0);
    }
    const deadline = Date.now() + 15_000;
    while (exports.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const fresh = exports.slice(before);
    expect(fresh.map((e) => e.path)).toContain('/custom/traces');
    const spans = fresh.flatMap((e) => spansOf(e.body)).flatMap((b) => b.spans);
    const root = spans.find((s) => s.name === 'tools/call echo_raw');
    expect(root?.traceId).toBe(CLIENT_TRACE);
    expect(root?.parentSpanId).toBe(CLIENT_SPAN);
    for (const e of fresh) expect(findCanary(e.body, KEY)).toEqual([]);
    expect(
      fresh
        .flatMap((e) => spansOf(e.body))
        .map((b) => b.service)
        .every((name) => name === 'keyward'),
    ).toBe(true);
  });

  it('OTEL_SDK_DISABLED=true: no export, no traceparent upstream', async () => {
    const before = exports.length;
    const session = await connectStdio(configPath, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_SDK_DISABLED: 'true' },
    });
    const result = await session.client.callTool({
      name: 'echo_raw',
      arguments: {},
      _meta: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    });
    expect(result.isError).toBeFalsy();
    expect(upstream.requests.at(-1)?.headers.traceparent).toBeUndefined();
    await session.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(exports.length).toBe(before);
    expect(session.stderr()).not.toContain('tracing on');
  });
});
