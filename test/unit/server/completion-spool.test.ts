/**
 * "Nothing lost": when the audit sink fails after the upstream has acted, the call.completed
 * record is spooled to a local file and replayed into the trail once the sink recovers.
 */
import { createGateway } from '../../../src/server/compose.js';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { createAuditSink } from '../../../src/audit/registry.js';
import { systemClock } from '../../../src/core/clock.js';
import { silentLogger, SecretRegistry } from '../../../src/observability/logger.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { startUpstream, type Upstream } from '../../fixtures/upstream.js';
import { tempDir } from '../../helpers/cli.js';

const KEY = 'kw_spool_test_key_abcdefghijklmnop';
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
});
afterAll(async () => {
  await upstream.close();
});

describe('completion spool', () => {
  it('spools call.completed when the sink fails mid-call and replays it later', async () => {
    process.env.KEYWARD_SECRET_API = KEY;
    const dir = tempDir();
    const dbPath = `${dir}/audit.db`;
    const loaded = parseConfig({
      agents: { a: { roles: ['r'], tenant: 't' } },
      identity: { stdio: { agent: 'a' } },
      backends: { env: { type: 'env' } },
      credentials: {
        api: { backend: 'env', ref: 'api', inject: { type: 'bearer' }, origins: [upstream.origin] },
      },
      tools: {
        slow: {
          permission: 'p:read',
          credential: 'api',
          request: { method: 'GET', url: `${upstream.origin}/slow`, query: { ms: '600' } },
        },
        fast: {
          permission: 'p:read',
          credential: 'api',
          request: { method: 'GET', url: `${upstream.origin}/public` },
        },
      },
      policy: { rules: [{ id: 'all', effect: 'allow', permissions: ['*'] }] },
      audit: { type: 'sqlite', path: dbPath },
      grants: { store: 'memory' },
    });
    const gateway = await createGateway(loaded, { logger: silentLogger(), secrets: new SecretRegistry() });
    const call = (name: string) =>
      gateway.callTool(
        name,
        {},
        {
          principal: principalFromConfig(loaded.config, undefined),
          sessionId: undefined,
          signal: undefined,
          elicitor: undefined,
        },
      );
    const locker = new Database(dbPath);
    try {
      const slow = call('slow');
      // call.started is recorded; now another process takes the write lock until after completion,
      // and a second call's insert finds it (after the busy timeout): the store is known to fail.
      await new Promise((r) => setTimeout(r, 200));
      locker.exec('BEGIN EXCLUSIVE');
      const during = call('fast');
      const result = await slow;
      expect(result.isError).toBeFalsy();
      // The upstream acted, the store refuses: call.completed goes to the spool, the result is returned.
      expect(existsSync(`${dbPath}-spool.jsonl`)).toBe(true);
      expect((await during).isError).toBeFalsy();
      locker.exec('ROLLBACK');
      // The store is retried every 0.5 s; then the next call replays the spool.
      await new Promise((r) => setTimeout(r, 700));

      const next = await call('fast');
      expect(next.isError).toBeFalsy();
      await new Promise((r) => setTimeout(r, 300));
      await gateway.parts.audit.flush();
      expect(existsSync(`${dbPath}-spool.jsonl`)).toBe(false);
    } finally {
      locker.close();
      await gateway.close();
      delete process.env.KEYWARD_SECRET_API;
    }
    const sink = await createAuditSink(
      { type: 'sqlite', path: dbPath, checkpointIntervalSeconds: 60 },
      { logger: silentLogger(), clock: systemClock },
    );
    const records = await sink.query({ tool: 'slow' });
    const types = records.map((r) => r.type);
    expect(types.filter((t) => t === 'call.started')).toHaveLength(1);
    const completed = records.filter((r) => r.type === 'call.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]?.details).toMatchObject({ spooled: true });
    expect((await sink.verify()).ok).toBe(true);
    await sink.close();
  }, 30_000);
});
