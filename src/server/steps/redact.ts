/**
 * Step 8: removes every injected secret, in every encoding, from what goes back to the agent:
 * the body, the passed-through headers, and error messages. Redactors are compiled per distinct
 * set of secrets and reused (upstream/redaction.ts), so a cached credential costs no recompilation.
 */
import { KeywardError, isKeywardError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import type { SecretRegistry } from '../../observability/logger.js';
import { redactorFor as cachedRedactorFor, type Redactor } from '../../upstream/redaction.js';
import type { CallContext } from '../call-context.js';

export function redactStep(secrets: SecretRegistry): Step<CallContext, CallSuccess> {
  const registered = new Set<Redactor>();
  const redactorFor = (values: readonly string[]): Redactor => {
    const redactor = cachedRedactorFor(values);
    if (!registered.has(redactor)) {
      // The logger scrubs the same values from every log line.
      for (const value of values) secrets.add(value);
      if (registered.size > 1024) registered.clear();
      registered.add(redactor);
    }
    return redactor;
  };

  return async (ctx, next) => {
    let result: CallSuccess;
    try {
      result = await next();
    } catch (error) {
      if (ctx.injected.length > 0 && isKeywardError(error)) {
        const redactor = redactorFor(ctx.injected);
        const message = redactor.redact(error.message);
        if (message !== error.message) {
          throw new KeywardError(error.code, message, {
            ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
          });
        }
      }
      throw error;
    }
    if (ctx.injected.length === 0) return result;
    const redactor = redactorFor(ctx.injected);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(result.headers)) headers[name] = redactor.redact(value);
    return { ...result, headers, body: redactor.redact(result.body) };
  };
}
