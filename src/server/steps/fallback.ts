/**
 * Graceful degradation (outermost step): when a call ends in permission_denied or
 * credential_revoked and its tool declares a `fallback`, answer with the fallback instead: another
 * tool (run through the whole pipeline, with its own policy check and audit) or a static result.
 * The answer says which fallback answered (CallSuccess.fallback). Fallbacks do not chain.
 */
import { isKeywardError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import { initialCallState, type CallContext } from '../call-context.js';
import type { CallPipeline, PipelineDeps } from '../call-pipeline.js';
import type { CompiledTool } from '../compiled-tool.js';

const FALLBACK_CODES = new Set(['permission_denied', 'credential_revoked']);

/** Contexts that are themselves a fallback run (shared by every pipeline instance: no chains). */
const fallbackRuns = new WeakSet<CallContext>();

export interface FallbackDeps {
  /** Every compiled tool by name (to run a `{ tool }` fallback). */
  readonly tools?: ReadonlyMap<string, CompiledTool>;
}

export function fallbackStep(
  deps: PipelineDeps & FallbackDeps,
  build: (deps: PipelineDeps) => CallPipeline,
): Step<CallContext, CallSuccess> {
  let pipeline: CallPipeline | undefined;
  return async (ctx, next) => {
    try {
      return await next();
    } catch (error) {
      const fallback = ctx.tool.config.fallback;
      if (
        fallback === undefined ||
        fallbackRuns.has(ctx) ||
        !isKeywardError(error) ||
        !FALLBACK_CODES.has(error.code)
      ) {
        throw error;
      }
      if ('result' in fallback) {
        deps.logger.info(
          { requestId: ctx.requestId, tool: ctx.tool.name, code: error.code },
          'fallback: static result',
        );
        return {
          status: 200,
          contentType: 'application/json',
          headers: {},
          body: JSON.stringify(fallback.result ?? null),
          fallback: 'result',
        };
      }
      const tool = deps.tools?.get(fallback.tool);
      if (tool === undefined) throw error;
      pipeline ??= build(deps);
      const sub: CallContext = {
        ...ctx,
        tool,
        rawArgs: ctx.args,
        ...initialCallState(),
      };
      fallbackRuns.add(sub);
      deps.logger.info(
        { requestId: ctx.requestId, tool: ctx.tool.name, fallback: tool.name, code: error.code },
        'fallback: another tool answers',
      );
      try {
        const result = await pipeline(sub);
        return { ...result, fallback: `tool:${tool.name}` };
      } catch {
        // The fallback failed too: the agent gets the original, more meaningful error.
        throw error;
      }
    }
  };
}
