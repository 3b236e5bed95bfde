/**
 * Property: whatever arguments an agent sends, a call ends in a success or a structured error,
 * never a crash; the request stays on the configured origin; nothing echoes the credential; and
 * every call.started has exactly one call.completed.
 */
import { createGateway } from '../../../src/server/compose.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ERROR_CODES } from '../../../src/core/errors.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { startUpstream, type Upstream } from '../../fixtures/upstream.js';
import { findCanary, makeCanary } from '../../helpers/canary.js';
import { tempDir } from '../../helpers/cli.js';

const KEY = makeCanary('kwfuzz');
let upstream: Upstream;
let other: Upstream;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  other = await startUpstream([KEY]);
});
afterAll(async () => {
  await upstream.close();
  await other.close();
});

describe('argument fuzzing through the whole pipeline', () => {
  it('never crashes, never leaves the origin, never leaks, always completes what it starts', async () => {
    process.env.KEYWARD_SECRET_API = KEY;
    const dir = tempDir();
    const loaded = parseConfig({
      agents: { a: { roles: ['r'], tenant: 't' } },
      identity: { stdio: { agent: 'a' } },
      backends: { env: { type: 'env' } },
      credentials: {
        api: { backend: 'env', ref: 'api', inject: { type: 'bearer' }, origins: [upstream.origin] },
      },
      tools: {
        repo: {
          permission: 'p:read',
          credential: 'api',
          request: {
            method: 'GET',
            url: `${upstream.origin}/repos/{owner}/{repo}`,
            query: { q: '{q}' },
            headers: { 'x-note': '{note}' },
          },
          input: {
            type: 'object',
            required: ['owner', 'repo'],
            properties: {
              owner: { type: 'string' },
              repo: { type: 'string' },
              q: { type: 'string' },
              note: { type: 'string' },
            },
          },
        },
        echo: {
          permission: 'p:read',
          credential: 'api',
          request: { method: 'POST', url: `${upstream.origin}/echo/encodings`, body: 'args' },
          input: { type: 'object', additionalProperties: true },
        },
      },
      policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
      audit: { type: 'sqlite', path: `${dir}/audit.db` },
      grants: { store: 'memory' },
    });
    const gateway = await createGateway(loaded, { logger: silentLogger(), secrets: new SecretRegistry() });
    const principal = principalFromConfig(loaded.config, undefined);
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('..', '.', '', '%2e%2e', '//evil.example', '\r\nX-Evil: 1', 'a\u0000b'),
    );
    const args = fc.oneof(
      fc.record(
        {
          owner: text,
          repo: text,
          q: fc.option(text, { nil: undefined }),
          note: fc.option(text, { nil: undefined }),
        },
        { requiredKeys: ['owner', 'repo'] },
      ),
      fc.anything(),
      fc.dictionary(
        fc.constantFrom('__proto__', 'constructor', 'owner', 'repo', 'prototype', 'x'),
        fc.anything(),
      ),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('repo', 'echo'), args, async (tool, input) => {
          const result = await gateway.callTool(tool, input, {
            principal,
            sessionId: undefined,
            signal: undefined,
            elicitor: undefined,
          });
          const serialized = JSON.stringify(result);
          expect(findCanary(serialized, KEY)).toEqual([]);
          if (result.isError) {
            const code = (result.structuredContent as { error: { code: string } }).error.code;
            expect(ERROR_CODES).toContain(code);
            expect(code).not.toBe('internal_error');
          }
        }),
        { numRuns: 150 },
      );
      for (const request of upstream.requests) {
        expect(request.url.startsWith('/repos/') || request.url.startsWith('/echo/')).toBe(true);
        expect(request.headers['x-evil']).toBeUndefined();
      }
      expect(other.requests).toHaveLength(0);
      await gateway.parts.audit.flush();
      const records = await gateway.parts.audit.query({ limit: 100_000 });
      const started = records.filter((r) => r.type === 'call.started').map((r) => r.requestId);
      const completed = records.filter((r) => r.type === 'call.completed').map((r) => r.requestId);
      expect(started.length).toBeGreaterThan(0);
      expect([...completed].sort()).toEqual([...started].sort());
    } finally {
      await gateway.close();
      delete process.env.KEYWARD_SECRET_API;
    }
  }, 60_000);
});
