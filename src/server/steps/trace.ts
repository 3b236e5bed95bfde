/**
 * The call span (outermost step; only in the pipeline when tracing is on): `tools/call <tool>`, a
 * child of the client's `_meta.traceparent` when it sent one (or of the failed call's span for a
 * fallback tool). The other steps add their child spans under `ctx.trace`. Attributes are
 * identifiers, the decision, the error code, the credential's key id and version and the upstream
 * status: never arguments, bodies, headers, URLs with their query or error messages.
 */
import { trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import { SpanKind, failSpan, remoteParent } from '../../observability/tracing.js';
import type { CallContext } from '../call-context.js';
import { errorCodeOf } from './audit-call.js';

/** The decision as the audit trail names it (call.rejected: invalid or deny; else allow or grant). */
function decisionOf(ctx: CallContext, code: string | undefined): string | undefined {
  if (ctx.authorization !== undefined) return ctx.authorization.via;
  if (code === undefined) return undefined;
  return code === 'invalid_arguments' ? 'invalid' : 'deny';
}

export function traceCallStep(tracer: Tracer): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    const parent = ctx.trace?.context ?? remoteParent(ctx.traceParent);
    const span = tracer.startSpan(
      `tools/call ${ctx.tool.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'mcp.method.name': 'tools/call',
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': ctx.tool.name,
          'keyward.tool': ctx.tool.name,
          'keyward.permission': ctx.tool.permission,
          'keyward.request_id': ctx.requestId,
          'keyward.agent': ctx.principal.agent,
          'keyward.tenant': ctx.principal.tenant,
        },
      },
      parent,
    );
    ctx.trace = { tracer, span, context: trace.setSpan(parent, span) };
    let code: string | undefined;
    try {
      const result = await next();
      if (result.fallback !== undefined) span.setAttribute('keyward.fallback', result.fallback);
      return result;
    } catch (error) {
      code = errorCodeOf(error);
      failSpan(span, error, code);
      throw error;
    } finally {
      const decision = decisionOf(ctx, code);
      if (decision !== undefined) span.setAttribute('keyward.decision', decision);
      const credential = ctx.credential;
      if (credential.secret !== undefined) {
        span.setAttribute('keyward.credential.key_id', credential.secret.keyId);
        span.setAttribute('keyward.credential.version', credential.secret.version);
      }
      if (credential.upstreamStatus !== undefined)
        span.setAttribute('keyward.upstream.status_code', credential.upstreamStatus);
      if (credential.refetched) span.setAttribute('keyward.credential.refetched', true);
      span.end();
    }
  };
}
