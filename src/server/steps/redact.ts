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
 * when not, a body without escapes is not parsed at all. For a JSON body that is structured, the
 * result always carries `json`, so nothing after this step parses the body again.
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
    // parsing the redacted text gives the redacted strings (one parse, as before this step parsed).
    const json = parseJsonBody(text);
    if (json !== undefined) {
      // Its numbers are not verbatim text: JSON.parse rewrote them (see checkedValue).
      const numbers = redactor.redactNumbers(json.value, reflected);
      return checkedValue(numbers.value, text, numbers.changed, redactor, reflected);
    }
    // Not JSON, too deep, or a match that spanned JSON syntax: the value pass below decides.
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.body);
  } catch {
    return structured ? { body: text, json: { value: text } } : { body: text };
  }
  try {
    // Strings, keys and numbers, each as the agent will see it.
    const { value, changed } = redactor.redactJson(parsed, reflected);
    // A text match the value pass did not find spans JSON syntax (`{"hunter2":"zX9qK"}` for the
    // secret `hunter2":"zX9qK`): the parsed value still holds it, joined again when serialized.
    const textOnly = !changed && text !== result.body;
    const checked = checkedValue(value, text, changed || textOnly, redactor, reflected);
    return structured ? checked : { body: checked.body };
  } catch (error) {
    if (error instanceof JsonTooDeep)
      return structured ? { body: text, json: { value: text } } : { body: text };
    throw error;
  }
}

/**
 * The agent receives the parsed value serialized again (structuredContent), and JSON.parse and
 * JSON.stringify do not give back the text the scan saw: numbers are rewritten (`839104.726501e6`
 * becomes 839104726501, a 17-digit number is rounded), whitespace goes, integer-like keys move
 * first and a repeated key keeps its last value. So `value` comes with its numbers checked as they
 * will be written, and the serialization is scanned again when it may differ from the text in a way
 * that matters: something was removed from the value (`rescan`, the text is then rebuilt from it so
 * the agent cannot unescape the original), or a pattern holds a JSON structural character. A serialization
 * that still holds a match is not returned as a value: the agent gets the redacted text, also as
 * the structured body.
 */
function checkedValue(
  value: unknown,
  text: string,
  rescan: boolean,
  redactor: Redactor,
  reflected: ReflectedInput,
): Pick<CallSuccess, 'body' | 'json'> & { json: { value: unknown } } {
  if (!rescan && !redactor.spansJsonSyntax) return { body: text, json: { value } };
  const serialized = JSON.stringify(value);
  const rescanned = redactor.redact(serialized, reflected);
  if (rescanned !== serialized) return { body: rescanned, json: { value: rescanned } };
  return { body: rescan ? serialized : text, json: { value } };
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
