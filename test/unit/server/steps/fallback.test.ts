/**
 * steps/fallback.ts: permission_denied or credential_revoked on a tool that declares a fallback
 * answers with it (a static result, or another tool through a whole pipeline); other errors, and
 * failures of the fallback itself, leave the original error; fallbacks do not chain.
 */
import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../../../src/core/errors.js';
import type { CallSuccess } from '../../../../src/core/types.js';
import { silentLogger } from '../../../../src/observability/logger.js';
import type { CallContext } from '../../../../src/server/call-context.js';
import type { CallPipeline, PipelineDeps } from '../../../../src/server/call-pipeline.js';
import { fallbackStep } from '../../../../src/server/steps/fallback.js';
import { allTools, context, okResult } from './context.js';

const deps = { logger: silentLogger(), tools: allTools } as Partial<PipelineDeps> as PipelineDeps;
const denied = () => Promise.reject(new KeywardError('permission_denied', 'no'));

function built(run: (ctx: CallContext) => Promise<CallSuccess>): {
  build: (d: PipelineDeps) => CallPipeline;
  seen: CallContext[];
} {
  const seen: CallContext[] = [];
  return {
    seen,
    build: () => (ctx) => {
      seen.push(ctx);
      return run(ctx);
    },
  };
}

describe('fallback step', () => {
  it('a static result answers a denied call, marked as the fallback', async () => {
    const { build } = built(() => Promise.resolve(okResult));
    const result = await fallbackStep(deps, build)(context('get_item'), denied);
    expect(result).toMatchObject({ status: 200, body: '{"cached":true}', fallback: 'result' });
  });

  it('another tool answers through its own pipeline, from a fresh call state', async () => {
    const { build, seen } = built(() => Promise.resolve(okResult));
    const ctx = context('via_tool', {});
    ctx.args = { from: 'caller' };
    ctx.credential.refetched = true;
    const result = await fallbackStep(deps, build)(ctx, denied);
    expect(result).toMatchObject({ ...okResult, fallback: 'tool:backup' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.tool.name).toBe('backup');
    expect(seen[0]!.rawArgs).toEqual({ from: 'caller' });
    expect(seen[0]!.started).toBe(false);
    expect(seen[0]!.credential.refetched).toBe(false);
    expect(seen[0]!.credential).not.toBe(ctx.credential);
  });

  it('the fallback tool failing too gives the original error; fallbacks do not chain', async () => {
    const { build, seen } = built(denied);
    const step = fallbackStep(deps, build);
    // The sub-call runs this same step (as in the real pipeline): its own denial must not fall back again.
    const nested = built((sub) => step(sub, denied));
    await expect(fallbackStep(deps, nested.build)(context('via_tool', {}), denied)).rejects.toMatchObject({
      code: 'permission_denied',
      message: 'no',
    });
    expect(nested.seen).toHaveLength(1);
    expect(seen).toHaveLength(0);
  });

  it('other errors, and tools without a fallback, are not caught', async () => {
    const { build } = built(() => Promise.resolve(okResult));
    await expect(
      fallbackStep(deps, build)(context('get_item'), () =>
        Promise.reject(new KeywardError('upstream_error', 'down')),
      ),
    ).rejects.toMatchObject({ code: 'upstream_error' });
    await expect(fallbackStep(deps, build)(context('backup', {}), denied)).rejects.toMatchObject({
      code: 'permission_denied',
    });
  });
});
