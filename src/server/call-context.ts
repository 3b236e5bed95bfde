/**
 * One tool call as it walks the pipeline: its inputs, then what the steps established (validated
 * arguments, the authorization, whether call.started is durable) and the credential session's record.
 */
import type { Principal } from '../core/types.js';
import type { CallTrace, TraceParent } from '../observability/tracing.js';
import type { Authorization, Elicitor } from '../policy/authorizer.js';
import type { CompiledTool } from './compiled-tool.js';
import { newCredentialRecord, type CredentialRecord } from './credential-session.js';

export interface CallContext {
  readonly requestId: string;
  readonly startedAt: number;
  readonly principal: Principal;
  readonly tool: CompiledTool;
  readonly rawArgs: unknown;
  readonly sessionId: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly elicitor: Elicitor | undefined;
  /** W3C trace context from the request's `params._meta` (used only when tracing is on). */
  readonly traceParent?: TraceParent | undefined;
  /** Validated arguments (set by the validate step). */
  args: Record<string, unknown>;
  authorization: Authorization | undefined;
  /** True once call.started is durable in the audit trail. */
  started: boolean;
  /** What the credential session saw (credential, upstream status, re-fetch, injected values). */
  readonly credential: CredentialRecord;
  /** The call's span, set by the trace step only when tracing is on (observability/tracing.ts). */
  trace?: CallTrace | undefined;
}

/** The per-call state every call (and every fallback call) starts from. */
export function initialCallState(): Pick<CallContext, 'args' | 'authorization' | 'started' | 'credential'> {
  return {
    args: {},
    authorization: undefined,
    started: false,
    credential: newCredentialRecord(),
  };
}
