/**
 * Meta-tools go through the Gateway's one call entry (issue 13): shutdown waits for a
 * request_capability that is waiting for a human, no meta-tool starts once shutdown began,
 * arguments are checked against the advertised schema, and refusals have the configured tools'
 * error shape and an audit record.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseConfig } from '../../../src/config/load.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import type { Elicitor } from '../../../src/policy/authorizer.js';
import { createGateway } from '../../../src/server/compose.js';
import { principalFromConfig, type Gateway } from '../../../src/server/gateway.js';
import type { AuditRecord } from '../../../src/audit/audit-sink.js';
import { MemoryInFlightLimiter, principalKey } from '../../../src/policy/in-flight-limiter.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function setup(): Promise<{ gateway: Gateway; call: typeof call }> {
  const loaded = parseConfig({
    agents: { a: { roles: ['r'], tenant: 't' } },
    identity: { stdio: { agent: 'a' } },
    tools: {
      write: {
        permission: 'gh:write',
        request: { method: 'POST', url: 'http://127.0.0.1:9/write' },
      },
    },
    policy: {
      rules: [{ id: 'ask', effect: 'approve', permissions: ['gh:write'], approval: 'any' }],
      metaToolRateLimit: { requests: 2, perSeconds: 60 },
    },
    grants: { store: 'memory' },
    audit: { type: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'kw-meta-')), 'audit.db') },
  });
  gateway = await createGateway(loaded, { logger: silentLogger(), secrets: new SecretRegistry() });
  const principal = principalFromConfig(loaded.config, undefined);
  const g = gateway;
  function call(name: string, args: unknown, elicitor?: Elicitor): Promise<CallToolResult> {
    return g.callTool(name, args, { principal, sessionId: 's1', signal: undefined, elicitor });
  }
  return { gateway: g, call };
}

type StructuredError = {
  error: { code: string; message: string; tool: string; permission: string; requestId: string };
};
const errorOf = (result: CallToolResult): StructuredError['error'] =>
  (result.structuredContent as StructuredError).error;

async function auditEvents(g: Gateway): Promise<AuditRecord[]> {
  await g.parts.audit.flush();
  return (await g.parts.audit.tail(100)).sort((a, b) => a.time.localeCompare(b.time));
}

describe('meta-tools through the one call entry', () => {
  it('drain waits for a request_capability that is waiting for a human', async () => {
    const { gateway: g, call } = await setup();
    let answer: (value: { action: 'accept'; content: Record<string, unknown> }) => void = () => {};
    let asked = false;
    const human: Elicitor = {
      elicit: () => {
        asked = true;
        return new Promise((resolve) => (answer = resolve));
      },
    };
    const pending = call('request_capability', { permission: 'gh:write', justification: 'x' }, human);
    await expect.poll(() => asked).toBe(true);
    expect(g.inFlightCalls).toBe(1);
    // Still waiting for the human: the drain cannot finish.
    expect(await g.drain(50)).toBe(false);
    const draining = g.drain(5000);
    answer({ action: 'accept', content: { approve: true } });
    expect(await draining).toBe(true);
    expect((await pending).structuredContent).toMatchObject({ status: 'granted', via: 'approval' });
  });

  it('no meta-tool call starts once shutdown began', async () => {
    const { gateway: g, call } = await setup();
    g.stopAccepting();
    const result = await call('list_capabilities', {});
    expect(result.isError).toBe(true);
    expect(errorOf(result)).toMatchObject({
      code: 'internal_error',
      tool: 'list_capabilities',
      permission: 'keyward:meta',
    });
    expect(errorOf(result).message).toMatch(/shutting down/);
  });

  it('arguments are checked against the advertised schema, in the configured tools’ error shape, and audited', async () => {
    const { gateway: g, call } = await setup();
    const extra = await call('list_capabilities', { extra: 1 });
    expect(extra.isError).toBe(true);
    expect(errorOf(extra)).toMatchObject({
      code: 'invalid_arguments',
      tool: 'list_capabilities',
      permission: 'keyward:meta',
    });
    expect(errorOf(extra).message).toContain('unknown argument "extra"');
    const text = (extra.content[0] as { text: string }).text;
    expect(text).toContain(`(requestId ${errorOf(extra).requestId})`);
    expect(text).toContain('Next:');

    const wrongType = await call('request_capability', { permission: 'gh:write', ttlSeconds: 'forever' });
    expect(errorOf(wrongType)).toMatchObject({ code: 'invalid_arguments', tool: 'request_capability' });
    expect(errorOf(wrongType).message).toMatch(/ttlSeconds/);
    const wildcard = await call('request_capability', { permission: 'gh:*' });
    expect(errorOf(wildcard)).toMatchObject({ code: 'invalid_arguments', tool: 'request_capability' });
    expect(errorOf(wildcard).message).toMatch(/no wildcards/);

    const rejected = (await auditEvents(g)).filter((e) => e.type === 'call.rejected');
    expect(rejected.map((e) => [e.tool, e.permission, e.errorCode, e.requestId])).toEqual([
      ['list_capabilities', 'keyward:meta', 'invalid_arguments', errorOf(extra).requestId],
      ['request_capability', 'keyward:meta', 'invalid_arguments', errorOf(wrongType).requestId],
      ['request_capability', 'keyward:meta', 'invalid_arguments', errorOf(wildcard).requestId],
    ]);
  });

  it("the meta-tools' own rate limit answers in the same shape and is audited", async () => {
    const { gateway: g, call } = await setup();
    expect((await call('list_capabilities', {})).isError).toBeUndefined();
    expect((await call('list_capabilities', {})).isError).toBeUndefined();
    const third = await call('list_capabilities', {});
    expect(errorOf(third)).toMatchObject({ code: 'rate_limited', permission: 'keyward:meta' });
    expect(
      (third.structuredContent as { error: { retryAfterSeconds?: number } }).error.retryAfterSeconds,
    ).toBeGreaterThan(0);
    const rejected = (await auditEvents(g)).filter((e) => e.type === 'call.rejected');
    expect(rejected.map((e) => [e.tool, e.errorCode])).toEqual([['list_capabilities', 'rate_limited']]);
  });

  it('a call refused because shutdown began is audited as call.rejected (security review)', async () => {
    const { gateway: g, call } = await setup();
    g.stopAccepting();
    const meta = await call('list_capabilities', {});
    const tool = await call('write', {});
    expect(errorOf(tool)).toMatchObject({ code: 'internal_error', tool: 'write', permission: 'gh:write' });
    const rejected = (await auditEvents(g)).filter((e) => e.type === 'call.rejected');
    expect(rejected.map((e) => [e.tool, e.permission, e.errorCode, e.outcome, e.requestId])).toEqual([
      ['list_capabilities', 'keyward:meta', 'internal_error', 'rejected', errorOf(meta).requestId],
      ['write', 'gh:write', 'internal_error', 'rejected', errorOf(tool).requestId],
    ]);
  });

  it('a call over the in-flight limit (rate_limited) is audited as call.rejected (security review)', async () => {
    const { gateway: g } = await setup();
    const principal = principalFromConfig(g.parts.config, undefined);
    const limiter = new MemoryInFlightLimiter(1);
    expect(await limiter.tryAcquire(principalKey(principal))).toBeDefined(); // one call already running
    const busy = await g.callTool(
      'write',
      {},
      {
        principal,
        sessionId: 's1',
        signal: undefined,
        elicitor: undefined,
        inFlightLimiter: limiter,
      },
    );
    expect(errorOf(busy)).toMatchObject({ code: 'rate_limited', tool: 'write' });
    const rejected = (await auditEvents(g)).filter((e) => e.type === 'call.rejected');
    expect(rejected.map((e) => [e.tool, e.errorCode, e.decision, e.requestId])).toEqual([
      ['write', 'rate_limited', 'deny', errorOf(busy).requestId],
    ]);
  });
});
