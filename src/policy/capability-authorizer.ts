/**
 * The full Authorizer: rules (deny wins, then approve, then allow), grants for `approve` rules,
 * and per-rule rate limits, checked on every call before any credential is touched, so a cached
 * credential never skips them. It decides; asking a human is HumanApproval's
 * (human-approval.ts), what the agent may see and ask is CapabilityCatalog's
 * (capability-catalog.ts), and the audit records are PolicyAudit's (policy-audit.ts).
 */
import { KeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import { approvalMode, elicitationMayApprove, grantSatisfies, operatorMayApprove } from './approval-mode.js';
import type { Authorization, AuthorizeInput, Authorizer } from './authorizer.js';
import { denied } from './basic-authorizer.js';
import { CapabilityCatalog } from './capability-catalog.js';
import {
  elicitationOnly,
  grantTerms,
  tooLongToPrompt,
  type CapabilityAuthorizerOptions,
  type CapabilityView,
  type RequestContext,
  type RequestInput,
  type RequestOutcome,
} from './capability-terms.js';
import { constraintsHold, grantIsLive, type Grant, type GrantStore } from './grant-store.js';
import { HumanApproval } from './human-approval.js';
import { PolicyAudit } from './policy-audit.js';
import type { PolicyDecision, PolicyEngine } from './policy-engine.js';
import { rateKey } from './rate-limiter.js';
import type { RuleConfig } from '../config/schema.js';

export * from './capability-terms.js';

export class CapabilityAuthorizer implements Authorizer {
  private readonly deps: CapabilityAuthorizerOptions & { readonly trail: PolicyAudit };
  private readonly humans: HumanApproval;
  private readonly catalog: CapabilityCatalog;

  constructor(
    options: CapabilityAuthorizerOptions,
    /** Tool name → permission, for request_capability and list_capabilities. */
    tools: ReadonlyMap<string, string> = new Map(),
  ) {
    this.deps = { ...options, trail: new PolicyAudit(options) };
    this.humans = new HumanApproval(this.deps);
    this.catalog = new CapabilityCatalog(this.deps, this.humans, tools);
  }

  get engine(): PolicyEngine {
    return this.deps.engine;
  }

  /** The grant store shared with the console and `keyward grants`. */
  get grants(): GrantStore {
    return this.deps.grants;
  }

  canEverUse(principal: Principal, tool: string, permission: string): boolean {
    return this.deps.engine.canEverUse({ principal, tool, permission });
  }

  /** list_capabilities (capability-catalog.ts). */
  describe(principal: Principal): Promise<CapabilityView[]> {
    return this.catalog.describe(principal);
  }

  /** request_capability (capability-catalog.ts). */
  requestCapability(
    principal: Principal,
    request: RequestInput,
    context: RequestContext,
  ): Promise<RequestOutcome> {
    return this.catalog.requestCapability(principal, request, context);
  }

  /** The meta-tools' own rate limit (capability-catalog.ts). */
  takeMetaToolCall(principal: Principal): Promise<void> {
    return this.catalog.takeMetaToolCall(principal);
  }

  async authorize(input: AuthorizeInput): Promise<Authorization> {
    const decision = this.deps.engine.decide(input);
    if (decision.effect === 'deny') {
      await this.deps.trail.denied(input, decision.ruleIds, 'permission_denied');
      throw denied(input.permission, decision.ruleIds);
    }
    if (decision.effect === 'allow') {
      await this.takeRate(input, decision.rules);
      return { ruleIds: decision.ruleIds, via: 'allow' };
    }
    const grant = await this.grantFor(input, decision);
    await this.takeRate(input, decision.rules);
    return { ruleIds: decision.ruleIds, via: 'grant', grantId: grant.id };
  }

  /** Finds and consumes a live grant, or asks the human, or leaves an approval request. */
  private async grantFor(input: AuthorizeInput, decision: PolicyDecision): Promise<Grant> {
    const { principal, permission } = input;
    const now = this.deps.clock.now();
    const mode = approvalMode(decision.rules, principal);
    const candidates = (
      await this.deps.grants.grantsFor(principal.agent, principal.tenant, permission)
    ).filter(
      (g) =>
        grantSatisfies(g, mode) &&
        constraintsHold(g.constraints, { tool: input.tool, args: input.args, user: principal.user }),
    );
    for (const grant of candidates) {
      if (!grantIsLive(grant, now)) continue;
      const used = await this.deps.grants.useGrant(grant.id, now);
      if (used.ok) {
        await this.deps.trail.event(input, 'grant.used', {
          decision: 'grant',
          ruleIds: decision.ruleIds,
          details: {
            grantId: grant.id,
            used: used.grant.used,
            ...(grant.maxCalls === undefined ? {} : { maxCalls: grant.maxCalls }),
          },
        });
        return used.grant;
      }
    }
    const newest = candidates[0];
    if (newest?.revokedAt !== undefined) {
      await this.deps.trail.denied(input, decision.ruleIds, 'permission_denied', {
        grantId: newest.id,
        revoked: true,
      });
      throw new KeywardError(
        'permission_denied',
        `the grant for ${permission} was revoked (grant ${newest.id}); call request_capability to ask again`,
      );
    }
    const lapsed = newest !== undefined && !grantIsLive(newest, now) ? newest : undefined;
    if (lapsed !== undefined) {
      await this.deps.trail.event(input, 'grant.expired', {
        decision: 'deny',
        ruleIds: decision.ruleIds,
        details: { grantId: lapsed.id, reason: now >= lapsed.expiresAt ? 'expired' : 'exhausted' },
      });
    }
    const terms = grantTerms(decision.rules);
    const tooLong = tooLongToPrompt(input.args);
    if (input.elicitor?.elicit !== undefined && elicitationMayApprove(mode) && tooLong === undefined) {
      const grant = await this.humans.askHuman(
        input,
        terms,
        undefined,
        input.elicitor.elicit,
        undefined,
        input.tool,
      );
      if (grant === undefined) {
        throw new KeywardError('approval_denied', `the human declined ${permission} for ${input.tool}`);
      }
      const used = await this.deps.grants.useGrant(grant.id, this.deps.clock.now());
      if (!used.ok)
        throw new KeywardError('grant_expired', `the grant for ${permission} ran out before it was used`);
      return used.grant;
    }
    if (lapsed !== undefined) {
      const why = now >= lapsed.expiresAt ? 'expired' : 'has no calls left';
      throw new KeywardError('grant_expired', `the grant for ${permission} ${why} (grant ${lapsed.id})`);
    }
    if (!operatorMayApprove(mode)) {
      throw input.elicitor?.elicit !== undefined && tooLong !== undefined
        ? elicitationOnly(permission, terms, tooLong)
        : elicitationOnly(permission, terms);
    }
    const approval = await this.humans.pendingApproval(
      principal,
      input,
      terms,
      undefined,
      undefined,
      input.tool,
    );
    if (approval.deniedRecently) {
      throw new KeywardError(
        'approval_denied',
        `an operator declined ${permission} (request ${approval.id})`,
      );
    }
    const url = this.deps.links?.approvalUrl(approval.id);
    if (url !== undefined && input.elicitor?.openUrl !== undefined) {
      const answer = await this.humans.waitForOperator(input, approval.id, url, input.elicitor);
      if (answer === 'denied')
        throw new KeywardError(
          'approval_denied',
          `an operator declined ${permission} (request ${approval.id})`,
        );
      if (answer !== undefined) {
        const used = await this.deps.grants.useGrant(answer.id, this.deps.clock.now());
        if (used.ok) return used.grant;
      }
    }
    throw new KeywardError(
      'approval_required',
      `permission ${permission} needs an operator's approval of this call (request ${approval.id}, rule ${terms.ruleIds.join(', ')})` +
        (url === undefined ? '' : `; an operator can answer at ${url}`),
      { approvalId: approval.id, ...(url === undefined ? {} : { url }) },
    );
  }

  /** Takes one token from every deciding rule's bucket; the first empty one answers rate_limited. */
  private async takeRate(input: AuthorizeInput, rules: readonly RuleConfig[]): Promise<void> {
    for (const rule of rules) {
      if (rule.rateLimit === undefined) continue;
      const key = rateKey({
        ruleId: rule.id,
        tenant: input.principal.tenant,
        agent: input.principal.agent,
        permission: input.permission,
        tool: input.tool,
        per: rule.rateLimit.per,
      });
      const taken = await this.deps.rateLimiter.take(key, rule.rateLimit);
      if (!taken.ok) {
        throw new KeywardError(
          'rate_limited',
          `${rule.rateLimit.requests} calls per ${rule.rateLimit.perSeconds} s for ${input.permission} used up (rule ${rule.id})`,
          { retryAfterSeconds: taken.retryAfterSeconds },
        );
      }
    }
  }
}
