/** Maps pipeline outcomes to MCP CallToolResults: structured success or a structured error. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { KeywardError, isKeywardError, toStructuredError } from '../core/errors.js';
import type { CallSuccess } from '../core/types.js';
import { parseJsonBody } from '../upstream/json-body.js';

/** Whether a content type announces JSON (`application/json`, `…+json`). */
export const isJsonContentType = (contentType: string | undefined): boolean =>
  contentType?.includes('json') ?? false;

/**
 * Whether a body also goes into `structuredContent.body` (the tool's `structuredBodyMaxBytes`), or
 * only into the text: a large body parsed, serialized and written a second time costs more than
 * the rest of the call (docs/performance.md, "the 200 KiB body").
 */
export function bodyIsStructured(body: string, maxBytes: number): boolean {
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count bytes only when the length cannot decide.
  if (body.length > maxBytes) return false;
  return body.length * 3 <= maxBytes || Buffer.byteLength(body, 'utf8') <= maxBytes;
}

export function successResult(success: CallSuccess, structuredBodyMaxBytes: number): CallToolResult {
  const structured: Record<string, unknown> = { status: success.status, headers: success.headers };
  if (!bodyIsStructured(success.body, structuredBodyMaxBytes)) structured.bodyInText = true;
  else if (success.json !== undefined) structured.body = success.json.value;
  else if (isJsonContentType(success.contentType))
    structured.body = parseJsonBody(success.body)?.value ?? success.body;
  else structured.body = success.body;
  if (success.fallback !== undefined) structured.fallback = success.fallback;
  return {
    content: [{ type: 'text', text: success.body }],
    structuredContent: structured,
  };
}

export function errorResult(
  error: unknown,
  context: { tool: string; permission: string; requestId: string },
): CallToolResult {
  const known = isKeywardError(error)
    ? error
    : new KeywardError('internal_error', `an internal error occurred; requestId ${context.requestId}`);
  const structured = toStructuredError(known, context);
  const retry =
    structured.retryAfterSeconds === undefined ? '' : ` Retry after ${structured.retryAfterSeconds} s.`;
  return {
    isError: true,
    content: [
      {
        type: 'text',
        text: `${structured.code}: ${structured.message}.${retry} Next: ${structured.nextStep}. (requestId ${structured.requestId})`,
      },
    ],
    structuredContent: { error: structured },
  };
}
