/** Loading specs: formats, version checks, and external $refs confined to the spec's directory. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSpec, SpecLoadError } from '../../../src/openapi/load-spec.js';
import { openApiToTools } from '../../../src/openapi/to-tools.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyward-spec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const doc = (schema: unknown) => ({
  openapi: '3.0.0',
  info: { title: 'Refs', version: '1' },
  servers: [{ url: 'https://refs.example.com' }],
  paths: {
    '/x': {
      post: {
        operationId: 'x',
        requestBody: { required: true, content: { 'application/json': { schema } } },
      },
    },
  },
});

describe('loadSpec', () => {
  it('follows external $refs inside the spec directory', async () => {
    mkdirSync(path.join(dir, 'schemas'));
    writeFileSync(
      path.join(dir, 'schemas', 'thing.yaml'),
      'type: object\nproperties:\n  label:\n    type: string\n',
    );
    writeFileSync(path.join(dir, 'api.json'), JSON.stringify(doc({ $ref: './schemas/thing.yaml' })));
    const spec = await loadSpec(path.join(dir, 'api.json'));
    const result = openApiToTools(spec.document, { source: 'api.json' });
    expect(result.tools.x!.input).toMatchObject({ properties: { label: { type: 'string' } } });
    expect(spec.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses an external $ref outside the spec directory (no local file pulled into tool metadata)', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'keyward-outside-'));
    try {
      writeFileSync(path.join(outside, 'master.key'), 'description: TOP-SECRET-KEY-MATERIAL\n');
      writeFileSync(
        path.join(dir, 'api.json'),
        JSON.stringify(doc({ $ref: path.join(outside, 'master.key') })),
      );
      const error = await loadSpec(path.join(dir, 'api.json')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SpecLoadError);
      expect((error as Error).message).toContain('outside the spec');
      expect((error as Error).message).not.toContain('TOP-SECRET');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('never fetches http $refs', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end('{"type":"string"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      writeFileSync(
        path.join(dir, 'api.json'),
        JSON.stringify(doc({ $ref: `http://127.0.0.1:${port}/schema.json` })),
      );
      const result = await loadSpec(path.join(dir, 'api.json')).then(
        (spec) => openApiToTools(spec.document, { source: 'api.json' }),
        (e: unknown) => e,
      );
      expect(hits).toBe(0);
      if (!(result instanceof Error)) {
        // left unresolved: the body becomes "any value", not the remote content
        expect((result as ReturnType<typeof openApiToTools>).tools.x!.input).toMatchObject({
          properties: { body: {} },
        });
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('rejects documents that are not OpenAPI 3.0/3.1 or Swagger 2.0, and unparsable text', async () => {
    writeFileSync(path.join(dir, 'a.yaml'), 'asyncapi: 2.0.0\ninfo: {}\n');
    await expect(loadSpec(path.join(dir, 'a.yaml'))).rejects.toThrow(
      /not an OpenAPI 3.0\/3.1 or Swagger 2.0/,
    );
    writeFileSync(path.join(dir, 'b.yaml'), 'openapi: 3.0.0\n  bad: [indent\n');
    await expect(loadSpec(path.join(dir, 'b.yaml'))).rejects.toBeInstanceOf(SpecLoadError);
    await expect(loadSpec(path.join(dir, 'missing.yaml'))).rejects.toThrow(/not found/);
  });

  it('loads a spec from an http URL and resolves relative servers against it', async () => {
    const body = JSON.stringify({
      ...doc({ type: 'object', properties: { a: { type: 'string' } } }),
      servers: [{ url: '/v2' }],
    });
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const url = `http://127.0.0.1:${port}/openapi.json`;
      const spec = await loadSpec(url);
      const result = openApiToTools(spec.document, { source: url, specUrl: url });
      expect(result.tools.x!.request.url).toBe(`http://127.0.0.1:${port}/v2/x`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
