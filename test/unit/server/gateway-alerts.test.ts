/** The gateway raises alerts for high-severity outcomes: here, an audit trail that cannot record. */
import { createGateway } from '../../../src/server/compose.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { startUpstream, type Upstream } from '../../fixtures/upstream.js';

const KEY = 'kw_alert_test_key_abcdefghijklmnop';
let upstream: Upstream;
const alerts: Record<string, unknown>[] = [];
let webhook: ReturnType<typeof createServer>;
let webhookUrl: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await upstream.close();
  await new Promise<void>((r) => webhook.close(() => r()));
});

describe('gateway alerts', () => {
  it('an audit failure refuses the call and sends an audit.failure alert without the key', async () => {
    process.env.KEYWARD_SECRET_API = KEY;
    const loaded = parseConfig({
      agents: { a: { roles: ['r'], tenant: 't' } },
      identity: { stdio: { agent: 'a' } },
      backends: { env: { type: 'env' } },
      credentials: {
        api: { backend: 'env', ref: 'api', inject: { type: 'bearer' }, origins: [upstream.origin] },
      },
      tools: {
        echo: {
          permission: 'p:read',
          credential: 'api',
          request: { method: 'GET', url: `${upstream.origin}/echo/raw` },
        },
      },
      policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
      grants: { store: 'memory' },
      // Nothing listens on port 1: every audit write fails.
      audit: {
        type: 'postgres',
        url: 'postgres://postgres@127.0.0.1:1/test',
        connectTimeoutMs: 300,
        statementTimeoutMs: 300,
      },
      notifier: { webhook: { url: webhookUrl, timeoutMs: 2000, retries: 0 } },
    });
    const gateway = await createGateway(loaded, { logger: silentLogger(), secrets: new SecretRegistry() });
    try {
      const before = upstream.requests.length;
      const result = await gateway.callTool(
        'echo',
        {},
        {
          principal: principalFromConfig(loaded.config, undefined),
          sessionId: undefined,
          signal: undefined,
          elicitor: undefined,
        },
      );
      expect(result.isError).toBe(true);
      expect((result.structuredContent as { error: { code: string } }).error.code).toBe('audit_unavailable');
      expect(upstream.requests.length).toBe(before);
      await gateway.parts.notifier.flush();
      const alert = alerts.find((a) => a.type === 'audit.failure');
      expect(alert).toBeDefined();
      expect(alert?.tool).toBe('echo');
      expect(JSON.stringify(alerts)).not.toContain(KEY);
    } finally {
      await gateway.close();
      delete process.env.KEYWARD_SECRET_API;
    }
  });
});
