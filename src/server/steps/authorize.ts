/** Step 2: the policy decides for principal × permission × arguments (deny by default). */
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import type { Authorizer } from '../../policy/authorizer.js';
import { failSpan, startChild } from '../../observability/tracing.js';
import type { CallContext } from '../call-context.js';

export function authorizeStep(authorizer: Authorizer): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    const span = ctx.trace && startChild(ctx.trace, 'authorize');
    try {
      ctx.authorization = await authorizer.authorize({
        principal: ctx.principal,
        tool: ctx.tool.name,
        permission: ctx.tool.permission,
        args: ctx.args,
        requestId: ctx.requestId,
        ...(ctx.sessionId === undefined ? {} : { sessionId: ctx.sessionId }),
        ...(ctx.elicitor === undefined ? {} : { elicitor: ctx.elicitor }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
    } catch (error) {
      if (span !== undefined) {
        span.setAttribute('keyward.decision', 'deny');
        failSpan(span, error);
        span.end();
      }
      throw error;
    }
    if (span !== undefined) {
      span.setAttribute('keyward.decision', ctx.authorization.via);
      span.setAttribute('keyward.rule_ids', [...ctx.authorization.ruleIds]);
      span.end();
    }
    return next();
  };
}
