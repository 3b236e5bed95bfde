/**
 * The agent's meta-tools: `list_capabilities` (what it may do now, what needs approval, live
 * grants, remaining rate) and `request_capability` (permission, justification, ttlSeconds):
 * auto-granted by an allow rule, sent for approval on an approve rule, denied otherwise.
 * Both answer with structuredContent; neither ever touches a credential.
 *
 * They run through the Gateway's one call entry (server/gateway.ts) like configured tools: it
 * validates the arguments against `definition.inputSchema`, counts the call for drain, audits a
 * refusal and formats every error in the one shape (server/tool-result.ts). A meta-tool therefore
 * receives schema-valid arguments and refuses by throwing a KeywardError.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Elicitor } from './authorizer.js';
import { KeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import { RESERVED_CONSTRAINTS, type ArgConstraints } from './grant-store.js';
import type { CapabilityAuthorizer, RequestInput } from './capability-authorizer.js';

/** The permission meta-tool calls are recorded under (audit, errors, metrics). */
export const META_PERMISSION = 'keyward:meta';

/** Extra tools served beside the configured ones (list_capabilities, request_capability). */
export interface MetaTool {
  readonly definition: Tool;
  call(
    args: Record<string, unknown>,
    context: {
      principal: Principal;
      sessionId: string | undefined;
      elicitor: Elicitor | undefined;
      requestId: string;
    },
  ): Promise<CallToolResult>;
}

function result(structured: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/**
 * The rules of request_capability's arguments its JSON Schema cannot state (the Gateway has
 * already checked the schema: types, unknown keys); returns what is wrong, or the request.
 * Kept complete on its own, so a caller that skips the schema is still safe.
 */
export function parseRequest(args: Record<string, unknown>): RequestInput | string {
  const allowed = new Set(['permission', 'justification', 'ttlSeconds', 'constraints']);
  for (const key of Object.keys(args)) if (!allowed.has(key)) return `unknown argument "${key}"`;
  const { permission, justification, ttlSeconds, constraints } = args;
  if (typeof permission !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(permission)) {
    return 'permission must be a permission name such as github:write (no wildcards)';
  }
  if (justification !== undefined && (typeof justification !== 'string' || justification.length > 2000)) {
    return 'justification must be a string of at most 2000 characters';
  }
  if (
    ttlSeconds !== undefined &&
    (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1)
  ) {
    return 'ttlSeconds must be a positive integer';
  }
  let pinned: ArgConstraints | undefined;
  if (constraints !== undefined) {
    if (constraints === null || typeof constraints !== 'object' || Array.isArray(constraints)) {
      return 'constraints must be an object of argument values';
    }
    const entries = Object.entries(constraints as Record<string, unknown>);
    if (entries.length > 16) return 'constraints may pin at most 16 arguments';
    for (const [key, value] of entries) {
      // `$args` marks a grant pinned by an operator's approval and `$user` the user a grant is
      // for: keyward sets them from what it verified; an agent cannot claim either scope.
      if (RESERVED_CONSTRAINTS.includes(key)) return `constraints may not name "${key}"`;
      if (
        !['string', 'number', 'boolean'].includes(typeof value) ||
        (typeof value === 'number' && !Number.isFinite(value))
      )
        return `constraints.${key.slice(0, 64)} must be a string, finite number or boolean`;
    }
    pinned = constraints as ArgConstraints;
  }
  return {
    permission,
    ...(justification === undefined ? {} : { justification: justification as string }),
    ...(ttlSeconds === undefined ? {} : { ttlSeconds: ttlSeconds as number }),
    ...(pinned === undefined ? {} : { constraints: pinned }),
  };
}

/** Runs a meta-tool call after taking one call from the principal's meta-tool bucket (throws rate_limited). */
async function limited(
  authorizer: CapabilityAuthorizer,
  context: { principal: Principal },
  run: () => Promise<CallToolResult>,
): Promise<CallToolResult> {
  await authorizer.takeMetaToolCall(context.principal);
  return run();
}

export function capabilityMetaTools(authorizer: CapabilityAuthorizer): MetaTool[] {
  const listCapabilities: MetaTool = {
    definition: {
      name: 'list_capabilities',
      description:
        'List what you may do: for each tool, whether its permission is allowed, granted, needs a human approval or is ' +
        'denied, your live grants with their expiry, and the calls left in each rate limit.',
      inputSchema: { type: 'object', properties: {}, additionalProperties: false },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    call(_args, context) {
      return limited(authorizer, context, async () => {
        const capabilities = await authorizer.describe(context.principal);
        const lines = capabilities.map(
          (c) =>
            `${c.tool} (${c.permission}): ${c.status}${c.dependsOnArguments ? ' (depends on arguments)' : ''}`,
        );
        return result(
          { agent: context.principal.agent, capabilities },
          lines.join('\n') || 'no tools configured',
        );
      });
    },
  };

  const requestCapability: MetaTool = {
    definition: {
      name: 'request_capability',
      description:
        'Ask for a permission you do not have yet. Give a justification a human will read. The answer is granted ' +
        '(retry your call), pending (an operator must approve the approvalId; retry later) or denied (continue without it).',
      inputSchema: {
        type: 'object',
        properties: {
          permission: {
            type: 'string',
            description: 'The permission, e.g. github:write (see list_capabilities)',
          },
          justification: {
            type: 'string',
            maxLength: 2000,
            description: 'Why you need it, for the human approver',
          },
          ttlSeconds: { type: 'integer', minimum: 1, description: 'How long you need it (capped by policy)' },
          constraints: {
            type: 'object',
            description: 'Optional: pin the grant to these exact argument values (narrows the grant)',
            additionalProperties: { type: ['string', 'number', 'boolean'] },
          },
        },
        required: ['permission'],
        additionalProperties: false,
      },
      annotations: { readOnlyHint: false, openWorldHint: false },
    },
    call(args, context) {
      return limited(authorizer, context, () => requestFor(args, context));
    },
  };

  const requestFor = async (
    args: Record<string, unknown>,
    context: Parameters<MetaTool['call']>[1],
  ): Promise<CallToolResult> => {
    const request = parseRequest(args);
    if (typeof request === 'string')
      throw new KeywardError('invalid_arguments', `invalid arguments: ${request}`);
    const outcome = await authorizer.requestCapability(context.principal, request, {
      requestId: context.requestId,
      ...(context.sessionId === undefined ? {} : { sessionId: context.sessionId }),
      ...(context.elicitor === undefined ? {} : { elicitor: context.elicitor }),
    });
    const text =
      outcome.status === 'granted'
        ? `granted ${request.permission} (${outcome.via})${outcome.expiresAt === undefined ? '' : ` until ${outcome.expiresAt}`}`
        : outcome.status === 'pending'
          ? `pending: ${outcome.nextStep} (approvalId ${outcome.approvalId})`
          : `denied: ${outcome.message}`;
    return result({ permission: request.permission, ...outcome }, text);
  };

  return [listCapabilities, requestCapability];
}
