/** Step 4: the credential for this principal, just in time: cache, else backend (single-flight). */
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import { failSpan, startChild } from '../../observability/tracing.js';
import type { CredentialResolver, ResolveOutcome } from '../../secrets/credential-resolver.js';
import type { CallContext } from '../call-context.js';

export function credentialStep(resolver: CredentialResolver): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    const credentialId = ctx.tool.credentialId;
    if (credentialId === undefined) return next();
    if (ctx.trace === undefined) {
      ctx.secret = await resolver.resolve(credentialId, ctx.principal, {
        forceRefresh: ctx.forceRefresh,
        ...(ctx.rejectedVersion === undefined ? {} : { rejectedVersion: ctx.rejectedVersion }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
        requestId: ctx.requestId,
        ...(ctx.elicitor === undefined ? {} : { interaction: ctx.elicitor }),
      });
      return next();
    }
    const span = startChild(ctx.trace, 'credential.resolve', {
      'keyward.credential.id': credentialId,
      'keyward.credential.force_refresh': ctx.forceRefresh,
    });
    const outcome: ResolveOutcome = {};
    try {
      ctx.secret = await resolver.resolve(credentialId, ctx.principal, {
        forceRefresh: ctx.forceRefresh,
        ...(ctx.rejectedVersion === undefined ? {} : { rejectedVersion: ctx.rejectedVersion }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
        requestId: ctx.requestId,
        ...(ctx.elicitor === undefined ? {} : { interaction: ctx.elicitor }),
        outcome,
      });
      span.setAttribute('keyward.credential.key_id', ctx.secret.keyId);
      span.setAttribute('keyward.credential.version', ctx.secret.version);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      if (outcome.cache !== undefined) span.setAttribute('keyward.credential.cache', outcome.cache);
      span.end();
    }
    return next();
  };
}
