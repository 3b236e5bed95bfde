/**
 * Authorizer: the pipeline's `authorize` step asks it whether a principal may use a permission
 * for a tool with given arguments. It returns on allow (possibly through a grant) and throws a
 * KeywardError otherwise: permission_denied, approval_required, approval_denied, grant_expired,
 * rate_limited. Deny by default.
 */
import type { Principal } from '../core/types.js';

/** A form the person in the MCP client fills in (MCP elicitation, form mode). */
export type FormElicitation = (request: {
  message: string;
  requestedSchema: Record<string, unknown>;
}) => Promise<{ action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> }>;

/**
 * What the agent's MCP client can ask of its user; absent when it cannot elicit. Each mode is
 * present only when the client declared it (spec 2025-11-25 `elicitation: { form, url }`).
 */
export interface Elicitor {
  readonly elicit?: FormElicitation;
  /**
   * URL mode: asks the client to open a page (keyward's approval console) for its user. Resolves
   * with the user's consent to open it, not with the outcome of what happens on the page.
   */
  readonly openUrl?: (request: {
    message: string;
    url: string;
    elicitationId: string;
  }) => Promise<'accept' | 'decline' | 'cancel'>;
  /** Tells the client the URL elicitation finished (notifications/elicitation/complete). */
  readonly completeUrl?: (elicitationId: string) => Promise<void>;
}

export interface AuthorizeInput {
  readonly principal: Principal;
  readonly tool: string;
  readonly permission: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly requestId: string;
  readonly sessionId?: string;
  readonly elicitor?: Elicitor;
  /** Aborted when the client cancels the call or the session closes (ends a wait for an operator). */
  readonly signal?: AbortSignal;
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
