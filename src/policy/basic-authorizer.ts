/**
 * The authorizer over the rule engine alone: allow passes, deny and default deny give
 * permission_denied, approve gives approval_required (no grant store configured).
 */
import { KeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { Authorization, AuthorizeInput, Authorizer } from './authorizer.js';
import type { PolicyEngine } from './policy-engine.js';

export class BasicAuthorizer implements Authorizer {
  constructor(private readonly engine: PolicyEngine) {}

  authorize(input: AuthorizeInput): Promise<Authorization> {
    const decision = this.engine.decide(input);
    if (decision.effect === 'allow') return Promise.resolve({ ruleIds: decision.ruleIds, via: 'allow' });
    if (decision.effect === 'approve') {
      return Promise.reject(
        new KeywardError('approval_required', `permission ${input.permission} needs a human approval`),
      );
    }
    return Promise.reject(denied(input.permission, decision.ruleIds));
  }

  canEverUse(principal: Principal, tool: string, permission: string): boolean {
    return this.engine.canEverUse({ principal, tool, permission });
  }
}

export function denied(permission: string, ruleIds: readonly string[]): KeywardError {
  const why = ruleIds.length > 0 ? `denied by rule ${ruleIds.join(', ')}` : 'no rule allows it';
  return new KeywardError(
    'permission_denied',
    `permission ${permission} is not granted to this agent (${why})`,
  );
}
