/**
 * Authorizer: the pipeline's `authorize` step asks it whether a principal may use a permission
 * for a tool with given arguments. It returns on allow (possibly through a grant) and throws a
 * KeywardError otherwise: permission_denied, approval_required, approval_denied, grant_expired,
 * rate_limited. Deny by default.
 */
import type { Principal } from '../core/types.js';

/** Asks the human through MCP elicitation; absent when the client cannot elicit. */
export interface Elicitor {
  elicit(request: {
    message: string;
    requestedSchema: Record<string, unknown>;
  }): Promise<{ action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> }>;
}

export interface AuthorizeInput {
  readonly principal: Principal;
  readonly tool: string;
  readonly permission: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly requestId: string;
  readonly sessionId?: string;
  readonly elicitor?: Elicitor;
}

export interface Authorization {
  /** Ids of the rules that decided, for the audit and `keyward policy explain`. */
  readonly ruleIds: readonly string[];
  /** 'allow' by a rule, or 'grant' through a live grant. */
  readonly via: 'allow' | 'grant';
  readonly grantId?: string;
}

export interface Authorizer {
  authorize(input: AuthorizeInput): Promise<Authorization>;
  /** Whether a tool can ever be used by this principal (false hides it from tools/list). */
  canEverUse(principal: Principal, tool: string, permission: string): boolean;
}
