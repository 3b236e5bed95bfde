/**
 * A stdio client that writes tool calls faster than the upstream answers (security review of
 * 2026-12-05): stdin is paused only when stdout is full, and slow calls write nothing, so before
 * `server.stdio.maxInFlight` every line became a running call and a flood could exhaust memory.
 * Beyond the cap a call is answered `rate_limited` at once, audited; the slots come back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { auditRecords, makeWorkspace, rawStdio, toolCallLine } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const KEY = 'kw_in_flight_test_key_0123456789abcdef';
let upstream: Upstream;
let configPath: string;
let dir: string;

beforeAll(async () => {
  upstream = await startUpstream([KEY]);
  ({ configPath, dir } = await makeWorkspace(
    (d) => ({ ...coreConfig(d, upstream.origin), server: { stdio: { maxInFlight: 2 } } }),
    { api: KEY },
  ));
});

afterAll(async () => {
  await upstream?.close();
});

type Answer = {
  id: unknown;
  result?: { isError?: boolean; structuredContent?: { error?: { code: string } } };
};

describe('server.stdio.maxInFlight', () => {
  it('calls beyond the cap are answered rate_limited at once; the slots come back', async () => {
    const server = await rawStdio(configPath);
    // `slow` waits on an upstream that answers after 10 s; its own deadline ends it at 400 ms.
    for (let i = 0; i < 6; i++) server.send(toolCallLine(`slow-${i}`, 'slow', {}));
    for (let i = 0; i < 6; i++) await server.waitFor((m) => m.id === `slow-${i}`);
    const codes = server
      .messages()
      .filter((m) => String(m.id).startsWith('slow-'))
      .map((m) => (m as Answer).result?.structuredContent?.error?.code);
    expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(4);
    expect(codes.filter((c) => c !== 'rate_limited')).toHaveLength(2);
    // The two that ran have finished: the next call runs.
    server.send(toolCallLine('after', 'get_repo', { owner: 'a', repo: 'b' }));
    const after = (await server.waitFor((m) => m.id === 'after')) as Answer;
    expect(after.result?.isError).toBeFalsy();
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    const refused = (await auditRecords(`${dir}/audit.db`)).filter(
      (r) => r.errorCode === 'rate_limited' && r.tool === 'slow',
    );
    expect(refused).toHaveLength(4);
  });
});
