/** Maps pipeline outcomes to MCP CallToolResults: structured success or a structured error. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { KeywardError, isKeywardError, toStructuredError } from '../core/errors.js';
import type { CallSuccess } from '../core/types.js';
import { parseJsonBody } from '../upstream/json-body.js';

/** Whether a content type announces JSON (`application/json`, `…+json`). */
export const isJsonContentType = (contentType: string | undefined): boolean =>
  contentType?.includes('json') ?? false;

export function successResult(success: CallSuccess): CallToolResult {
  let body: unknown = success.body;
  if (success.json !== undefined) body = success.json.value;
  else if (isJsonContentType(success.contentType)) body = parseJsonBody(success.body)?.value ?? success.body;
  const structured: Record<string, unknown> = { status: success.status, headers: success.headers, body };
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
