/** A generated 1,000-operation document imports in seconds (time is measured and printed, not asserted). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { loadSpec } from '../../../src/openapi/load-spec.js';
import { openApiToTools } from '../../../src/openapi/to-tools.js';
import { compileTools } from '../../../src/server/compile-tools.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-openapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bigDocument(resources: number): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {
    Meta: {
      type: 'object',
      properties: {
        created: { type: 'string', format: 'date-time' },
        tags: { type: 'array', items: { type: 'string' } },
      },
    },
  };
  for (let i = 0; i < resources; i++) {
    const ref = { $ref: `#/components/schemas/Item${i}` };
    schemas[`Item${i}`] = {
      type: 'object',
      required: ['name'],
      properties: {
        id: { type: 'string', readOnly: true },
        name: { type: 'string', maxLength: 100 },
        count: { type: 'integer', minimum: 0 },
        meta: { $ref: '#/components/schemas/Meta' },
        parent: { $ref: `#/components/schemas/Item${i}` },
      },
    };
    const idParam = { name: 'itemId', in: 'path', required: true, schema: { type: 'string' } };
    const page = { name: 'page', in: 'query', schema: { type: 'integer', default: 1 } };
    const body = { required: true, content: { 'application/json': { schema: ref } } };
    const tags = [`group${i % 10}`];
    paths[`/r${i}/items`] = {
      get: { operationId: `listItems${i}`, tags, parameters: [page], summary: `List items of r${i}` },
      post: { operationId: `createItem${i}`, tags, requestBody: body },
    };
    paths[`/r${i}/items/{itemId}`] = {
      parameters: [idParam],
      get: { operationId: `getItem${i}`, tags },
      put: { operationId: `replaceItem${i}`, tags, requestBody: body },
      patch: { operationId: `patchItem${i}`, tags, requestBody: body },
      delete: { operationId: `deleteItem${i}`, tags },
    };
    paths[`/r${i}/items/{itemId}/children`] = {
      parameters: [idParam],
      get: { operationId: `listChildren${i}`, tags, parameters: [page] },
      post: { operationId: `addChild${i}`, tags, requestBody: body },
    };
    paths[`/r${i}/search`] = {
      get: {
        operationId: `search${i}`,
        tags,
        parameters: [{ name: 'q', in: 'query', required: true, schema: { type: 'string' } }],
      },
      head: { operationId: `probe${i}`, tags },
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Big API', version: '1' },
    servers: [{ url: 'https://big.example.com/api' }],
    components: { schemas, securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    security: [{ token: [] }],
    paths,
  };
}

it('imports a 1,000-operation document and compiles every tool', async () => {
  const file = path.join(dir, 'big.json');
  writeFileSync(file, JSON.stringify(bigDocument(100)));
  const t0 = performance.now();
  const spec = await loadSpec(file);
  const t1 = performance.now();
  const result = openApiToTools(spec.document, { source: 'big.json', credential: 'big' });
  const t2 = performance.now();
  const { config } = parseConfig({
    backends: { local: { type: 'file', path: path.join(dir, 's.enc'), keyPath: path.join(dir, 'k') } },
    credentials: {
      big: { backend: 'local', ref: 'big', inject: result.security!.inject, origins: result.origins },
    },
    tools: result.definitions,
  });
  const compiled = compileTools(config);
  const t3 = performance.now();
  expect(result.operationCount).toBe(1000);
  expect(Object.keys(result.tools)).toHaveLength(1000);
  expect(compiled.size).toBe(1000);
  expect(result.issues).toEqual([]);
  const ms = (a: number, b: number) => `${Math.round(b - a)} ms`;
  process.stderr.write(
    `[large-spec] 1000 operations: load+dereference ${ms(t0, t1)}, compile to tools ${ms(t1, t2)}, ` +
      `parseConfig+compileTools ${ms(t2, t3)}, total ${ms(t0, t3)}\n`,
  );
});
