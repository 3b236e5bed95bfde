/** The notifier: log always, webhook JSON POST with retries and a timeout, repeated-denial alerts. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { WebhookNotifier } from '../../../src/observability/notifier.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function hook(statuses: number[]): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, bodies };
}

const repeated = { count: 3, windowSeconds: 60 };

describe('WebhookNotifier', () => {
  it('POSTs the alert as JSON and retries a 5xx', async () => {
    const { url, bodies } = await hook([503, 200]);
    const n = new WebhookNotifier({
      config: { webhook: { url, timeoutMs: 1000, retries: 2 }, repeatedDenials: repeated },
      logger: silentLogger(),
      clock: new ManualClock(),
    });
    n.notify({
      type: 'approval.requested',
      message: 'agent bot asks for gh:write',
      agent: 'bot',
      details: { approvalId: 'a_1' },
    });
    await n.flush();
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toMatchObject({
      type: 'approval.requested',
      agent: 'bot',
      source: 'keyward',
      details: { approvalId: 'a_1' },
    });
  });

  it('gives up after the retries without throwing', async () => {
    const { url, bodies } = await hook([500, 500, 500, 500]);
    const n = new WebhookNotifier({
      config: { webhook: { url, timeoutMs: 1000, retries: 1 }, repeatedDenials: repeated },
      logger: silentLogger(),
      clock: new ManualClock(),
    });
    n.notify({ type: 'audit.failure', message: 'x' });
    await n.flush();
    expect(bodies).toHaveLength(2);
  });

  it('raises denials.repeated once the count is reached inside the window', async () => {
    const { url, bodies } = await hook([]);
    const clock = new ManualClock();
    const n = new WebhookNotifier({
      config: { webhook: { url, timeoutMs: 1000, retries: 0 }, repeatedDenials: repeated },
      logger: silentLogger(),
      clock,
    });
    const d = { tool: 't', permission: 'p', code: 'permission_denied' };
    n.recordDenial('bot', 'acme', d);
    n.recordDenial('bot', 'acme', d);
    clock.advance(61_000); // the first two fall out of the window
    n.recordDenial('bot', 'acme', d);
    n.recordDenial('eve', 'acme', d);
    n.recordDenial('bot', 'acme', d);
    await n.flush();
    expect(bodies).toHaveLength(0);
    n.recordDenial('bot', 'acme', d);
    await n.flush();
    expect(bodies).toEqual([
      expect.objectContaining({
        type: 'denials.repeated',
        agent: 'bot',
        details: { count: 3, lastCode: 'permission_denied' },
      }),
    ]);
  });
});
