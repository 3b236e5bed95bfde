/**
 * Two keyward replicas (separate processes) sharing the machine's Redis (random key prefix) and
 * PostgreSQL (random schema): a rotation and a grant revocation made through one take effect on
 * the other's next call, a rate limit is shared, both hash chains verify (and an edited row is
 * detected), and under 200 concurrent calls every started call has exactly one completion record.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, sha256Hex } from '../../src/identity/token-hash.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { makeWorkspace, runCli } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';
import { startReplica, type Replica } from '../helpers/http-replica.js';

const PG_URL = process.env.KEYWARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const KEY1 = `kw_test_scale_v1_${randomBytes(8).toString('hex')}`;
const KEY2 = `kw_test_scale_v2_${randomBytes(8).toString('hex')}`;
const TOKEN = generateToken();
const schema = `kw_scale_${randomBytes(4).toString('hex')}`;
const keyPrefix = `kwtest:scale:${randomBytes(4).toString('hex')}:`;
const env = { KW_TEST_CACHE_KEY: randomBytes(32).toString('base64') };

let upstream: Upstream;
let configPath: string;
let a: Replica;
let b: Replica;
let ca: Client;
let cb: Client;
const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}
function code(result: CallToolResult): string | undefined {
  return (result.structuredContent as { error?: { code: string } } | undefined)?.error?.code;
}

beforeAll(async () => {
  upstream = await startUpstream([KEY1]);
  ({ configPath } = await makeWorkspace(
    (dir) => {
      const base = coreConfig(dir, upstream.origin) as Record<string, unknown> & {
        tools: Record<string, unknown>;
      };
      return {
        ...base,
        identity: { tokens: [{ agent: 'local', sha256: sha256Hex(TOKEN), id: 'scale' }] },
        tools: {
          ...base.tools,
          limited: {
            description: 'rate limited read',
            permission: 'api:limited',
            credential: 'api',
            request: { method: 'GET', url: `${upstream.origin}/repos/x/y` },
          },
        },
        policy: {
          hideUnusableTools: false,
          rules: [
            { id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] },
            {
              id: 'limited',
              effect: 'allow',
              roles: ['owner'],
              permissions: ['api:limited'],
              rateLimit: { requests: 3, perSeconds: 3600 },
            },
            {
              id: 'write',
              effect: 'approve',
              roles: ['owner'],
              permissions: ['api:write'],
              grantTtlSeconds: 600,
              // The test's client stands for a person answering in their client (over HTTP the
              // default is operator-only approval).
              approval: 'any',
            },
          ],
        },
        cache: {
          type: 'redis',
          url: 'redis://127.0.0.1:6379',
          keyPrefix,
          encryptionKey: { env: 'KW_TEST_CACHE_KEY' },
        },
        grants: { store: 'redis' },
        audit: { type: 'postgres', url: PG_URL, schema },
        // 200 concurrent calls of one agent on purpose (audit completeness, not fair sharing)
        server: { http: { maxInFlightPerPrincipal: 256 } },
        logging: { level: 'warn' },
      };
    },
    { api: KEY1 },
  ));
  [a, b] = await Promise.all([startReplica(configPath, env), startReplica(configPath, env)]);
  [ca, cb] = await Promise.all([a.connect(TOKEN, { elicit: true }), b.connect(TOKEN)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await admin.end();
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('two replicas sharing Redis and PostgreSQL', () => {
  it('a rotation through one replica takes effect on the other at its next call', async () => {
    expect(code(await call(ca, 'get_repo', { owner: 'o', repo: 'r' }))).toBeUndefined();
    expect(code(await call(cb, 'get_repo', { owner: 'o', repo: 'r' }))).toBeUndefined();
    const rotated = await runCli(['secrets', 'rotate', 'api', '--config', configPath], { input: KEY2, env });
    expect(rotated.code, rotated.stderr).toBe(0);
    upstream.options.acceptedKeys = new Set([KEY2]);
    const mark = upstream.requests.length;
    expect(code(await call(ca, 'get_repo', { owner: 'o', repo: 'r' }))).toBeUndefined();
    expect(code(await call(cb, 'get_repo', { owner: 'o', repo: 'r' }))).toBeUndefined();
    const after = upstream.requests.slice(mark).map((r) => r.headers.authorization);
    // At most the first call anywhere may still carry the old key (then 401 → re-fetch); B never does.
    expect(after.filter((h) => h === `Bearer ${KEY1}`).length).toBeLessThanOrEqual(1);
    expect(after.at(-1)).toBe(`Bearer ${KEY2}`);
  });

  it('a grant approved on one replica serves the other, and its revocation applies there at once', async () => {
    expect(code(await call(ca, 'create_item', { name: 'first' }))).toBeUndefined();
    expect(code(await call(cb, 'create_item', { name: 'via-b' }))).toBeUndefined();
    const list = await runCli(['grants', 'list', '--json', '--config', configPath], { env });
    expect(list.code, list.stderr).toBe(0);
    const id = /"id":\s*"(g_[A-Za-z0-9_-]+)"/.exec(list.stdout)?.[1];
    expect(id).toBeDefined();
    const revoked = await runCli(['grants', 'revoke', id!, '--config', configPath], { env });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(code(await call(cb, 'create_item', { name: 'after-revoke' }))).toBe('permission_denied');
  });

  it('shares one rate limit across replicas', async () => {
    const results = [
      await call(ca, 'limited'),
      await call(cb, 'limited'),
      await call(ca, 'limited'),
      await call(cb, 'limited'),
      await call(ca, 'limited'),
    ];
    expect(results.map(code)).toEqual([undefined, undefined, undefined, 'rate_limited', 'rate_limited']);
    const e = (results[3]?.structuredContent as { error: { retryAfterSeconds: number } }).error;
    expect(e.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('records exactly one completion per started call under 200 concurrent calls', async () => {
    const calls = Array.from({ length: 200 }, (_, i) =>
      call(i % 2 === 0 ? ca : cb, 'get_repo', { owner: 'load', repo: `r${i}` }),
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => !r.isError)).toHaveLength(200);
    const { rows } = await admin.query<{ request_id: string; started: string; completed: string }>(
      `SELECT request_id,
              count(*) FILTER (WHERE type = 'call.started') AS started,
              count(*) FILTER (WHERE type = 'call.completed') AS completed
         FROM ${schema}.audit_events WHERE request_id IS NOT NULL AND tool = 'get_repo'
        GROUP BY request_id`,
    );
    const started = rows.filter((r) => Number(r.started) > 0);
    expect(started.length).toBeGreaterThanOrEqual(200);
    for (const row of started) expect([row.request_id, Number(row.completed)]).toEqual([row.request_id, 1]);
  }, 60_000);

  it('both replicas write hash chains that verify, and an edited row is detected', async () => {
    const verify = await runCli(['audit', 'verify', '--config', configPath], { env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const writers = Number(/in (\d+) writer chain/.exec(verify.stdout)?.[1] ?? 0);
    expect(writers).toBeGreaterThanOrEqual(2);
    const client = await admin.connect();
    try {
      await client.query(`ALTER TABLE ${schema}.audit_events DISABLE TRIGGER audit_events_no_update_delete`);
      await client.query(
        `UPDATE ${schema}.audit_events SET record = replace(record, '"get_repo"', '"get_rep0"')
          WHERE id = (SELECT min(id) FROM ${schema}.audit_events WHERE tool = 'get_repo')`,
      );
    } finally {
      client.release();
    }
    const tampered = await runCli(['audit', 'verify', '--config', configPath], { env });
    expect(tampered.code).toBe(1);
  });

  it('both replicas shut down gracefully', async () => {
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });
});
