/**
 * The core promise end to end: the built CLI over real stdio, driven by the SDK client, against a
 * local API that demands the stored key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { connectStdio, makeWorkspace, runCli, type StdioSession } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_test_4f9a1c7e2b8d6a3f0e5c9b1d7a2e8f4c';
const ROTATED = 'kw_test_rotated_9e8d7c6b5a4f3e2d1c0b';

let upstream: Upstream;
let other: Upstream;
let session: StdioSession;
let configPath: string;

function error(result: unknown): Record<string, unknown> {
  const r = result as CallToolResult;
  expect(r.isError).toBe(true);
  return (r.structuredContent as { error: Record<string, unknown> }).error;
}

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  other = await startUpstream([KEY]);
  ({ configPath } = await makeWorkspace((dir) => coreConfig(dir, upstream.origin), { api: KEY }));
  session = await connectStdio(configPath);
});

afterAll(async () => {
  await session?.close();
  await upstream?.close();
  await other?.close();
});

describe('keyward over stdio', () => {
  it('lists the configured tools with strict input schemas', async () => {
    const { tools } = await session.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('get_repo');
    const getRepo = tools.find((t) => t.name === 'get_repo');
    expect(getRepo?.inputSchema.additionalProperties).toBe(false);
  });

  it('calls the upstream with exactly the stored key and never returns it', async () => {
    const before = upstream.requests.length;
    const result = (await session.client.callTool({
      name: 'get_repo',
      arguments: { owner: 'acme', repo: 'widgets' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { body: unknown }).body).toEqual({
      owner: 'acme',
      repo: 'widgets',
      stars: 42,
    });
    const seen = upstream.requests.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.stringify(result)).not.toContain(KEY);
  });

  it('redacts the key echoed raw, in base64, URL-encoded, JSON-escaped, hex and in part', async () => {
    for (const name of ['echo_raw', 'echo_encodings', 'echo_header']) {
      const result = await session.client.callTool({ name, arguments: {} });
      const text = JSON.stringify(result);
      expect(text, name).not.toContain(KEY);
      expect(text).not.toContain(Buffer.from(KEY).toString('base64').slice(4, 20));
      expect(text).not.toContain(Buffer.from(KEY).toString('hex').slice(0, 16));
      expect(text).not.toContain(KEY.slice(-20, -8));
      expect(text).toContain('[REDACTED]');
    }
    const headers = await session.client.callTool({ name: 'echo_header', arguments: {} });
    const passed = (headers.structuredContent as { headers: Record<string, string> }).headers;
    expect(passed['set-cookie']).toBeUndefined();
  });

  it('answers invalid arguments with invalid_arguments naming the problem, without calling upstream', async () => {
    const before = upstream.requests.length;
    const e1 = error(await session.client.callTool({ name: 'get_repo', arguments: { owner: 'acme' } }));
    expect(e1.code).toBe('invalid_arguments');
    expect(e1.message).toContain('repo');
    const e2 = error(
      await session.client.callTool({ name: 'get_repo', arguments: { owner: 'a', repo: 'b', extra: 1 } }),
    );
    expect(e2.code).toBe('invalid_arguments');
    expect(e2.message).toContain('extra');
    expect(upstream.requests.length).toBe(before);
  });

  it('denies by policy before reading the backend or calling upstream', async () => {
    const before = upstream.requests.length;
    const e = error(
      await session.client.callTool({ name: 'forbidden_read', arguments: { owner: 'a', repo: 'b' } }),
    );
    // The credential of this tool does not exist: reading it would give credential_not_found.
    expect(e.code).toBe('permission_denied');
    expect(e.retryable).toBe(false);
    expect(e.tool).toBe('forbidden_read');
    expect(e.permission).toBe('admin:read');
    expect(typeof e.requestId).toBe('string');
    expect(typeof e.nextStep).toBe('string');
    expect(upstream.requests.length).toBe(before);
  });

  it('answers an unknown tool with a JSON-RPC protocol error', async () => {
    await expect(session.client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(
      /-32602|Unknown tool/,
    );
  });

  it('maps upstream 429 to rate_limited with retryAfterSeconds', async () => {
    const e = error(await session.client.callTool({ name: 'ratelimited', arguments: {} }));
    expect(e.code).toBe('rate_limited');
    expect(e.retryAfterSeconds).toBe(7);
    expect(e.retryable).toBe(true);
  });

  it('maps 5xx to upstream_error', async () => {
    expect(error(await session.client.callTool({ name: 'server_error', arguments: {} })).code).toBe(
      'upstream_error',
    );
  });

  it('gives upstream_timeout near the deadline for a slow upstream', async () => {
    const started = Date.now();
    const e = error(await session.client.callTool({ name: 'slow', arguments: {} }));
    expect(e.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('caps a huge body with response_too_large', async () => {
    const e = error(await session.client.callTool({ name: 'huge', arguments: {} }));
    expect(e.code).toBe('response_too_large');
  });

  it('does not follow a redirect, so the key reaches no other origin', async () => {
    const e = error(
      await session.client.callTool({ name: 'redirect', arguments: { to: `${other.origin}/echo/raw` } }),
    );
    expect(e.code).toBe('upstream_rejected');
    expect(other.requests).toHaveLength(0);
  });

  it('keeps path parameters inside one segment of the configured origin', async () => {
    const attacks = [
      '../',
      '..',
      '%2f',
      '//evil.example',
      '@evil.example',
      'a\r\nX-Injected: 1',
      '../../admin?x=1#',
      'a/b',
    ];
    for (const owner of attacks) {
      const before = upstream.requests.length;
      const result = (await session.client.callTool({
        name: 'get_repo',
        arguments: { owner, repo: 'r' },
      })) as CallToolResult;
      const sent = upstream.requests.slice(before);
      if (result.isError) {
        expect(error(result).code, owner).toBe('invalid_arguments');
        expect(sent).toHaveLength(0);
      } else {
        expect(sent, owner).toHaveLength(1);
        expect(sent[0]?.url.startsWith('/repos/')).toBe(true);
        expect(sent[0]?.url.split('/')).toHaveLength(4);
        expect(sent[0]?.headers['x-injected']).toBeUndefined();
        expect((result.structuredContent as { body: { owner: string } }).body.owner).toBe(owner);
      }
    }
  });

  it('survives a key rotation: one 401, one re-fetch, success', async () => {
    const rotate = await runCli(['secrets', 'rotate', 'api', '--config', configPath], { input: ROTATED });
    expect(rotate.code, rotate.stderr).toBe(0);
    upstream.options.acceptedKeys = new Set([ROTATED]);
    const before = upstream.requests.length;
    const result = (await session.client.callTool({
      name: 'get_repo',
      arguments: { owner: 'a', repo: 'b' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const sent = upstream.requests.slice(before);
    expect(sent.at(-1)?.headers.authorization).toBe(`Bearer ${ROTATED}`);
    expect(sent.length).toBeLessThanOrEqual(2);
    expect(JSON.stringify(result)).not.toContain(ROTATED);
  });

  it('answers credential_invalid when the upstream rejects even the fresh key', async () => {
    upstream.options.acceptedKeys = new Set(['something-else-entirely']);
    const before = upstream.requests.length;
    const e = error(
      await session.client.callTool({ name: 'get_repo', arguments: { owner: 'a', repo: 'b' } }),
    );
    expect(e.code).toBe('credential_invalid');
    expect(upstream.requests.length - before).toBe(2);
    upstream.options.acceptedKeys = new Set([ROTATED]);
  });

  it('records every call in a hash chain that `keyward audit verify` accepts, and catches an edit', async () => {
    const ok = await runCli(['audit', 'verify', '--config', configPath]);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    const tail = await runCli(['audit', 'tail', '-n', '50', '--config', configPath]);
    expect(tail.stdout).toContain('call.completed');
    expect(tail.stdout).toContain('permission_denied');
    expect(tail.stdout).not.toContain(KEY);
    expect(tail.stdout).not.toContain(ROTATED);

    // An operator with file access edits a record (dropping the append-only trigger first).
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(configPath.replace(/tools\.config\.json$/, 'audit.db'));
    db.exec('DROP TRIGGER IF EXISTS audit_events_no_update');
    const changed = db
      .prepare(
        "UPDATE audit_events SET tool = 'innocent' WHERE rowid = (SELECT MIN(rowid) FROM audit_events WHERE type = 'call.completed')",
      )
      .run();
    db.close();
    expect(changed.changes).toBe(1);
    const broken = await runCli(['audit', 'verify', '--config', configPath]);
    expect(broken.code).toBe(1);
    expect(broken.stdout + broken.stderr).toMatch(/edited|mismatch/i);
  });
});

describe('bad config', () => {
  it('names the JSON path, exits non-zero and prints no stack trace', async () => {
    const { configPath: file } = await makeWorkspace((dir) => coreConfig(dir, 'http://127.0.0.1:1'));
    const config = JSON.parse(readFileSync(file, 'utf8')) as {
      tools: Record<string, { request: { method: string } }>;
    };
    (config.tools.get_repo as { request: { method: string } }).request.method = 'FETCH';
    writeFileSync(file, JSON.stringify(config));
    for (const command of [['check'], ['serve']]) {
      const result = await runCli([...command, '--config', file]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('tools.get_repo.request.method');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('reports invalid JSON with a clear message', async () => {
    const { configPath: file } = await makeWorkspace((dir) => coreConfig(dir, 'http://127.0.0.1:1'));
    writeFileSync(file, '{ "tools": ');
    const result = await runCli(['check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not valid JSON');
  });
});

describe('fail closed on audit', () => {
  it('an audit store that cannot be written gives audit_unavailable and no upstream call', async () => {
    const api = await startUpstream([KEY]);
    const { dir, configPath: file } = await makeWorkspace((d) => coreConfig(d, api.origin), { api: KEY });
    const s = await connectStdio(file);
    const { default: Database } = await import('better-sqlite3');
    let locker: InstanceType<typeof Database> | undefined;
    try {
      const first = (await s.client.callTool({ name: 'echo_raw', arguments: {} })) as CallToolResult;
      expect(first.isError).toBeFalsy();
      // Let the server's batched insert of the first call's records run before the lock is taken.
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Another process holds the write lock. The call already under way is recorded in the
      // write-ahead journal (nothing is lost) and made; its insert then waits out the busy timeout.
      locker = new Database(`${dir}/audit.db`);
      locker.exec('BEGIN EXCLUSIVE');
      const inFlight = (await s.client.callTool({ name: 'echo_raw', arguments: {} })) as CallToolResult;
      expect(inFlight.isError).toBeFalsy();
      // The batched insert (within 10 ms) then waits out the lock and fails.
      await new Promise((resolve) => setTimeout(resolve, 100));
      // From then on the store is known not to answer: calls are refused, nothing reaches the upstream.
      const before = api.requests.length;
      const result = await s.client.callTool({ name: 'echo_raw', arguments: {} });
      expect(error(result).code).toBe('audit_unavailable');
      expect(error(result).retryable).toBe(true);
      expect(api.requests.length).toBe(before);
      locker.exec('ROLLBACK');
      locker.close();
      locker = undefined;
      // Once the lock is gone (retried every 0.5 s), calls go through and the journaled records land.
      await new Promise((resolve) => setTimeout(resolve, 700));
      const after = (await s.client.callTool({ name: 'echo_raw', arguments: {} })) as CallToolResult;
      expect(after.isError).toBeFalsy();
      await new Promise((resolve) => setTimeout(resolve, 100)); // the batched insert runs within 10 ms
      const { default: Db } = await import('better-sqlite3');
      const db = new Db(`${dir}/audit.db`, { readonly: true });
      const types = db
        .prepare(`SELECT type FROM audit_events WHERE type LIKE 'call.%' ORDER BY id`)
        .all()
        .map((r) => (r as { type: string }).type);
      db.close();
      // first call, the in-flight call (its completion via the spool), the refusal, the last call.
      expect(types.filter((t) => t === 'call.started')).toHaveLength(3);
      expect(types.filter((t) => t === 'call.rejected')).toHaveLength(0);
    } finally {
      locker?.close();
      await s.close();
      await api.close();
    }
  });
});
