/** A failing upstream origin trips its breaker: calls fail fast without reaching it, then a probe recovers. */
import { createGateway } from '../../../src/server/compose.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { startUpstream, type Upstream } from '../../fixtures/upstream.js';
import { tempDir } from '../../helpers/cli.js';

let failing: Upstream;
let healthy: Upstream;

beforeAll(async () => {
  failing = await startUpstream();
  healthy = await startUpstream();
});
afterAll(async () => {
  await failing.close();
  await healthy.close();
});

describe('per-origin circuit breaker', () => {
  it('opens after repeated 5xx, fails fast with retryAfterSeconds, leaves other origins alone, then recovers', async () => {
    const dir = tempDir();
    const loaded = parseConfig({
      agents: { a: { roles: ['r'], tenant: 't' } },
      identity: { stdio: { agent: 'a' } },
      tools: {
        broken: { permission: 'p:read', request: { method: 'GET', url: `${failing.origin}/status/503` } },
        recovered: { permission: 'p:read', request: { method: 'GET', url: `${failing.origin}/public` } },
        other: { permission: 'p:read', request: { method: 'GET', url: `${healthy.origin}/public` } },
      },
      policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
      audit: { type: 'sqlite', path: `${dir}/audit.db` },
      grants: { store: 'memory' },
      upstream: { breaker: { threshold: 0.5, minimumCalls: 4, windowSeconds: 10, openSeconds: 1 } },
    });
    const gateway = await createGateway(loaded, { logger: silentLogger(), secrets: new SecretRegistry() });
    const principal = principalFromConfig(loaded.config, undefined);
    const call = async (name: string) => {
      const result = await gateway.callTool(
        name,
        {},
        { principal, sessionId: undefined, signal: undefined, elicitor: undefined },
      );
      return (
        result.structuredContent as { error?: { code: string; message: string; retryAfterSeconds?: number } }
      ).error;
    };
    try {
      for (let i = 0; i < 8; i++) expect((await call('broken'))?.code).toBe('upstream_error');
      const sent = failing.requests.length;
      expect(sent).toBeLessThan(8);
      const open = await call('recovered');
      expect(open?.code).toBe('upstream_error');
      expect(open?.message).toContain('circuit open');
      expect(open?.retryAfterSeconds).toBe(1);
      expect(failing.requests.length).toBe(sent);
      expect(await call('other')).toBeUndefined();

      await new Promise((r) => setTimeout(r, 1100));
      expect(await call('recovered')).toBeUndefined();
      expect(failing.requests.length).toBe(sent + 1);
      expect(await call('recovered')).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});
