/**
 * Step 8: removes every secret sent to this origin, in every encoding, from what goes back to the
 * agent: the body (as text and, for JSON, as the parsed value the agent receives), the
 * passed-through headers, and error messages. Matches that the agent's own arguments account for
 * are left alone (upstream/reflected-input.ts): the redactor must not confirm guesses.
 * Redactors are compiled per distinct set of targets and reused (upstream/redaction.ts), so a
 * cached credential costs no recompilation.
 */
import { KeywardError, isKeywardError } from '../../core/errors.js';
import type { Step } from '../../core/pipeline.js';
import type { CallSuccess } from '../../core/types.js';
import type { SecretRegistry } from '../../observability/logger.js';
import { OriginSecrets } from '../../upstream/origin-secrets.js';
import type { RedactionTarget } from '../../upstream/redaction-target.js';
import { JsonTooDeep, redactorFor as cachedRedactorFor, type Redactor } from '../../upstream/redaction.js';
import { reflectedInput, type ReflectedInput } from '../../upstream/reflected-input.js';
import { startChild } from '../../observability/tracing.js';
import type { CallContext } from '../call-context.js';
import { bodyIsStructured, isJsonContentType } from '../tool-result.js';
import { parseJsonBody } from '../../upstream/json-body.js';

/**
 * The body as the agent will see it: JSON parsed once and redacted as a value as well as text.
 * `structured`: whether the parsed value will be returned (tool-result.ts `bodyIsStructured`);
 * when not, a body without escapes is not parsed at all.
 */
export function redactBody(
  result: CallSuccess,
  redactor: Redactor,
  reflected: ReflectedInput,
  structured = true,
): Pick<CallSuccess, 'body' | 'json'> {
  const text = redactor.redact(result.body, reflected);
  if (!isJsonContentType(result.contentType) || result.body.length === 0) return { body: text };
  if (!result.body.includes('\\')) {
    if (!structured) return { body: text };
    // No escapes: every string of the parsed body is verbatim text the text pass already saw, so
    // parsing the redacted text gives the redacted value (one parse, as before this step parsed).
    const json = parseJsonBody(text);
    if (json !== undefined) return { body: text, json };
    // Not JSON, too deep, or a match that spanned JSON syntax: the value pass below decides.
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.body);
  } catch {
    return { body: text };
  }
  try {
    const { value, changed } = redactor.redactJson(parsed, reflected);
    // Something the text pass missed (`\/`, partial `\uXXXX` escapes): the text is rebuilt from the
    // redacted value, so the agent cannot unescape the original either.
    return { body: changed ? JSON.stringify(value) : text, json: { value } };
  } catch (error) {
    if (error instanceof JsonTooDeep) return { body: text };
    throw error;
  }
}

export function redactStep(secrets: SecretRegistry): Step<CallContext, CallSuccess> {
  const history = new OriginSecrets();
  const registered = new WeakSet<Redactor>();
  const redactorFor = (targets: readonly RedactionTarget[]): Redactor => {
    const redactor = cachedRedactorFor(targets);
    if (!registered.has(redactor)) {
      // The logger scrubs the same values from every log line.
      for (const target of targets) secrets.add(target.value);
      registered.add(redactor);
    }
    return redactor;
  };

  return async (ctx, next) => {
    let result: CallSuccess;
    try {
      result = await next();
    } catch (error) {
      const targets = history.remember(ctx.tool.origin, ctx.credential.injected);
      if (targets.length > 0 && isKeywardError(error)) {
        const span =
          ctx.trace && startChild(ctx.trace, 'redact', { 'keyward.redact.targets': targets.length });
        const message = redactorFor(targets).redact(error.message, reflectedInput(ctx.args));
        span?.end();
        if (message !== error.message) {
          throw new KeywardError(error.code, message, {
            ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
          });
        }
      }
      throw error;
    }
    const targets = history.remember(ctx.tool.origin, ctx.credential.injected);
    if (targets.length === 0) return result;
    const span = ctx.trace && startChild(ctx.trace, 'redact', { 'keyward.redact.targets': targets.length });
    try {
      const redactor = redactorFor(targets);
      const reflected = reflectedInput(ctx.args);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(result.headers))
        headers[name] = redactor.redact(value, reflected);
      const structured = bodyIsStructured(result.body, ctx.tool.config.structuredBodyMaxBytes);
      return { ...result, headers, ...redactBody(result, redactor, reflected, structured) };
    } finally {
      span?.end();
    }
  };
}
