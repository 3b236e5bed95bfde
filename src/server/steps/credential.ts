/** Step 4: the credential for this principal, just in time: cache, else backend (single-flight). */
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import type { CredentialResolver } from '../../secrets/credential-resolver.js';
import type { CallContext } from '../call-context.js';

export function credentialStep(resolver: CredentialResolver): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    const credentialId = ctx.tool.credentialId;
    if (credentialId !== undefined) {
      ctx.secret = await resolver.resolve(credentialId, ctx.principal, {
        forceRefresh: ctx.forceRefresh,
        ...(ctx.rejectedVersion === undefined ? {} : { rejectedVersion: ctx.rejectedVersion }),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
    }
    return next();
  };
}
