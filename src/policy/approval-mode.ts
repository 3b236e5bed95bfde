/**
 * Who may approve an `approve` rule (issue 12 §3). Over HTTP the MCP client is usually the agent
 * process itself, so "the human in the client" answering a form elicitation can be the agent
 * answering itself: such rules default to `operator`. On stdio the client is the person's own
 * desktop app, and either channel may answer (`any`).
 */
import type { RuleConfig } from '../config/schema.js';
import type { Principal } from '../core/types.js';
import type { Grant } from './grant-store.js';

export type ApprovalMode = 'operator' | 'elicitation' | 'any';

/** The default for a principal: `any` on stdio, `operator` for everything that came over HTTP. */
export function defaultApprovalMode(principal: Pick<Principal, 'authMethod'>): ApprovalMode {
  return principal.authMethod === 'stdio' ? 'any' : 'operator';
}

/**
 * The mode of the deciding approve rules. Rules that disagree resolve to the stricter channel:
 * `operator` beats `elicitation`, and either beats `any`.
 */
export function approvalMode(
  rules: readonly Pick<RuleConfig, 'approval'>[],
  principal: Pick<Principal, 'authMethod'>,
): ApprovalMode {
  const modes = rules.map((r) => r.approval ?? defaultApprovalMode(principal));
  if (modes.includes('operator')) return 'operator';
  if (modes.includes('elicitation')) return 'elicitation';
  return 'any';
}

export const elicitationMayApprove = (mode: ApprovalMode): boolean => mode !== 'operator';
export const operatorMayApprove = (mode: ApprovalMode): boolean => mode !== 'elicitation';

/**
 * Whether a grant may answer a call whose approve rules resolve to `mode`. Under `operator` only
 * an operator's grant counts: a grant the client's "human" elicited may be the agent answering
 * itself (for a sibling tool with a laxer rule, or through request_capability), and would
 * otherwise stand in for the operator's approval this rule demands.
 */
export function grantSatisfies(grant: Pick<Grant, 'createdBy'>, mode: ApprovalMode): boolean {
  return mode !== 'operator' || grant.createdBy.startsWith('operator:');
}
