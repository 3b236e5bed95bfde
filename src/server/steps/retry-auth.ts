/**
 * Step 7 (classify, the credential part): after an upstream 401/403 the cached credential is
 * dropped, fetched again once and the request retried once. A second rejection is final:
 * credential_invalid. The pipeline re-runs the credential and send steps below this one.
 */
import { KeywardError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import type { CredentialResolver } from '../../secrets/credential-resolver.js';
import type { CallContext } from '../call-context.js';

/** Thrown by the send step when the upstream rejected the credential. Never leaves the pipeline. */
export class UpstreamAuthRejected extends Error {
  constructor(readonly status: number) {
    super(`upstream rejected the credential (${status})`);
    this.name = 'UpstreamAuthRejected';
  }
}

export function retryAuthStep(resolver: CredentialResolver): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    try {
      return await next();
    } catch (error) {
      if (!(error instanceof UpstreamAuthRejected)) throw error;
      if (ctx.tool.credentialId === undefined) {
        throw new KeywardError(
          'upstream_rejected',
          `upstream answered ${error.status} and this tool has no credential`,
        );
      }
      ctx.tool.injector?.invalidate?.();
      // The resolver drops the rejected version itself (unless another call already replaced it).
      ctx.forceRefresh = true;
      ctx.rejectedVersion = ctx.secret?.version;
      ctx.credentialRefetched = true;
      try {
        return await next();
      } catch (retryError) {
        if (!(retryError instanceof UpstreamAuthRejected)) throw retryError;
        ctx.tool.injector?.invalidate?.();
        await resolver.invalidate(ctx.tool.credentialId, ctx.principal);
        throw new KeywardError(
          'credential_invalid',
          `the upstream rejected the credential (${retryError.status}) even after a fresh fetch`,
        );
      }
    }
  };
}
