/** The mutable state of one tool call as it walks the pipeline. */
import type { Principal, Secret } from '../core/types.js';
import type { CallTrace, TraceParent } from '../observability/tracing.js';
import type { Authorization, Elicitor } from '../policy/authorizer.js';
import type { RedactionTarget } from '../upstream/redaction-target.js';
import type { CompiledTool } from './compiled-tool.js';

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
  secret: Secret | undefined;
  /** Set for the one re-fetch after an upstream 401/403. */
  forceRefresh: boolean;
  rejectedVersion: string | undefined;
  /** Every secret-bearing string injected in any attempt, for redaction. */
  injected: RedactionTarget[];
  upstreamStatus: number | undefined;
  credentialRefetched: boolean;
  /** The call's span, set by the trace step only when tracing is on (observability/tracing.ts). */
  trace?: CallTrace | undefined;
}

/** The per-call state every call (and every fallback call) starts from. */
export function initialCallState(): Pick<
  CallContext,
  | 'args'
  | 'authorization'
  | 'started'
  | 'secret'
  | 'forceRefresh'
  | 'rejectedVersion'
  | 'injected'
  | 'upstreamStatus'
  | 'credentialRefetched'
> {
  return {
    args: {},
    authorization: undefined,
    started: false,
    secret: undefined,
    forceRefresh: false,
    rejectedVersion: undefined,
    injected: [],
    upstreamStatus: undefined,
    credentialRefetched: false,
  };
}
