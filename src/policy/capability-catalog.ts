/**
 * What the agent can see and ask (issue 13: the authorizer split by role): `list_capabilities`
 * (each tool's permission for this principal now: allowed, granted, needs approval, denied, live
 * grants, remaining rate) and `request_capability` (auto-granted by an allow rule, sent to a human
 * on an approve rule, denied otherwise), and the meta-tools' own rate limit.
 */
import { KeywardError } from '../core/errors.js';
import type { RuleConfig } from '../config/schema.js';
import type { Principal } from '../core/types.js';
import { approvalMode, elicitationMayApprove, grantSatisfies, operatorMayApprove } from './approval-mode.js';
import { denied } from './basic-authorizer.js';
import {
  clip,
  elicitationOnly,
  grantTerms,
  sameConstraints,
  tooLongToPrompt,
  type CapabilityAuthorizerOptions,
  type CapabilityStatus,
  type CapabilityView,
  type RequestContext,
  type RequestInput,
  type RequestOutcome,
} from './capability-terms.js';
import { conditionReadsArgs } from './policy-validation.js';
import { forUser, GRANTED_USER, grantedUser, grantIsLive, type Grant } from './grant-store.js';
import type { HumanApproval } from './human-approval.js';
import type { PolicyAudit } from './policy-audit.js';
import { rateKey } from './rate-limiter.js';

export class CapabilityCatalog {
  constructor(
    private readonly deps: CapabilityAuthorizerOptions & { readonly trail: PolicyAudit },
    private readonly humans: HumanApproval,
    /** Tool name → permission. */
    private readonly tools: ReadonlyMap<string, string>,
  ) {}

  /**
   * Takes one meta-tool call from the principal's bucket; a KeywardError `rate_limited` when it
   * is empty. An agent spamming request_capability cannot flood the operator, the audit trail or
   * the webhook.
   */
  async takeMetaToolCall(principal: Principal): Promise<void> {
    const limit = this.deps.metaToolRateLimit ?? { requests: 30, perSeconds: 60 };
    const key = `meta\u0000${principal.tenant}\u0000${principal.agent}`;
    const taken = await this.deps.rateLimiter.take(key, limit);
    if (!taken.ok) {
      throw new KeywardError(
        'rate_limited',
        `${limit.requests} calls of list_capabilities and request_capability per ${limit.perSeconds} s used up`,
        { retryAfterSeconds: taken.retryAfterSeconds },
      );
    }
  }

  /** list_capabilities: what each tool's permission means for this principal right now. */
  async describe(principal: Principal): Promise<CapabilityView[]> {
    const now = this.deps.clock.now();
    const out: CapabilityView[] = [];
    const grantCache = new Map<string, Grant[]>();
    for (const [tool, permission] of this.tools) {
      const decision = this.deps.engine.decide(
        { principal, tool, permission, args: {} },
        { argsUnknown: true },
      );
      const dependsOnArguments = this.deps.engine.rules.some(
        (r) =>
          r.config.when !== undefined &&
          conditionReadsArgs(r.config.when) &&
          r.matchesTarget({ principal, tool, permission }),
      );
      let all = grantCache.get(permission);
      if (all === undefined) {
        all = await this.deps.grants.grantsFor(principal.agent, principal.tenant, permission);
        grantCache.set(permission, all);
      }
      const mode = decision.effect === 'approve' ? approvalMode(decision.rules, principal) : 'any';
      // Another user's grants are theirs: neither shown nor counted for this principal.
      const own = all.filter((g) => (grantedUser(g.constraints) ?? principal.user) === principal.user);
      const grants = own.filter((g) => grantIsLive(g, now) && grantSatisfies(g, mode));
      const newest = own[0];
      let status: CapabilityStatus;
      if (decision.effect === 'deny') status = 'denied';
      else if (decision.effect === 'allow') status = 'allowed';
      else if (grants.some((g) => Object.keys(g.constraints ?? {}).every((k) => k === GRANTED_USER)))
        status = 'granted';
      else status = newest?.revokedAt !== undefined ? 'denied' : 'needs_approval';
      const rateLimits: CapabilityView['rateLimits'][number][] = [];
      if (decision.effect !== 'deny') {
        for (const rule of decision.rules) {
          if (rule.rateLimit === undefined) continue;
          const key = rateKey({
            ruleId: rule.id,
            tenant: principal.tenant,
            agent: principal.agent,
            permission,
            tool,
            per: rule.rateLimit.per,
          });
          rateLimits.push({
            ruleId: rule.id,
            requests: rule.rateLimit.requests,
            perSeconds: rule.rateLimit.perSeconds,
            remaining: await this.deps.rateLimiter.remaining(key, rule.rateLimit),
          });
        }
      }
      out.push({
        tool,
        permission,
        status,
        ruleIds: decision.ruleIds,
        dependsOnArguments,
        ...(decision.effect === 'approve' ? { approval: mode } : {}),
        grants:
          decision.effect === 'approve'
            ? grants.map((g) => ({
                id: g.id,
                expiresAt: new Date(g.expiresAt).toISOString(),
                ...(g.maxCalls === undefined ? {} : { callsLeft: g.maxCalls - g.used }),
                ...(g.constraints === undefined ? {} : { constraints: g.constraints }),
              }))
            : [],
        rateLimits,
      });
    }
    return out;
  }

  /** request_capability: auto-granted by an allow rule, sent for approval on approve, else denied. */
  async requestCapability(
    principal: Principal,
    request: RequestInput,
    context: RequestContext,
  ): Promise<RequestOutcome> {
    const { permission } = request;
    const args: Readonly<Record<string, unknown>> = request.constraints ?? {};
    const justification = clip(request.justification, 500);
    const base = {
      principal,
      permission,
      args,
      requestId: context.requestId,
      ...(context.sessionId === undefined ? {} : { sessionId: context.sessionId }),
    };
    await this.deps.trail.event(base, 'capability.requested', {
      details: {
        ...(justification === undefined ? {} : { justification }),
        ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds }),
        ...(request.constraints === undefined ? {} : { constraints: request.constraints }),
      },
    });
    const toolNames = [...this.tools].filter(([, p]) => p === permission).map(([t]) => t);
    const decisions = (toolNames.length > 0 ? toolNames : ['']).map((tool) => ({
      tool,
      decision: this.deps.engine.decide({ principal, tool, permission, args }, { argsUnknown: true }),
    }));
    // A grant covers the permission on every tool that carries it, so it is asked under the
    // strictest terms among them: the approve rules of all those tools together, not the first
    // (a lax sibling tool must not let the agent self-approve what a strict one reserves).
    const approveRules = [
      ...new Set<RuleConfig>(
        decisions.flatMap((d) => (d.decision.effect === 'approve' ? d.decision.rules : [])),
      ),
    ];
    const allow = decisions.find((d) => d.decision.effect === 'allow');
    if (approveRules.length === 0) {
      if (allow !== undefined) {
        await this.deps.trail.event(base, 'capability.granted', {
          decision: 'allow',
          ruleIds: allow.decision.ruleIds,
          details: { by: `rule:${allow.decision.ruleIds.join(',')}` },
        });
        return { status: 'granted', via: 'rule', ruleIds: allow.decision.ruleIds };
      }
      const ruleIds = [...new Set(decisions.flatMap((d) => d.decision.ruleIds))];
      await this.deps.trail.denied({ ...base, tool: toolNames[0] ?? '' }, ruleIds, 'permission_denied');
      return {
        status: 'denied',
        code: 'permission_denied',
        ruleIds,
        message: denied(permission, ruleIds).message,
      };
    }
    const terms = grantTerms(approveRules);
    const mode = approvalMode(approveRules, principal);
    const now = this.deps.clock.now();
    const scope = forUser(request.constraints, principal.user);
    const live = (await this.deps.grants.grantsFor(principal.agent, principal.tenant, permission)).find(
      (g) => grantIsLive(g, now) && grantSatisfies(g, mode) && sameConstraints(g.constraints, scope),
    );
    if (live !== undefined) {
      return {
        status: 'granted',
        via: 'grant',
        ruleIds: terms.ruleIds,
        grantId: live.id,
        expiresAt: new Date(live.expiresAt).toISOString(),
      };
    }
    const tooLong = tooLongToPrompt(request.constraints);
    if (context.elicitor?.elicit !== undefined && elicitationMayApprove(mode) && tooLong === undefined) {
      const grant = await this.humans.askHuman(
        base,
        terms,
        { ...request, ...(justification === undefined ? {} : { justification }) },
        context.elicitor.elicit,
        request.constraints,
        undefined,
      );
      if (grant === undefined) {
        return {
          status: 'denied',
          code: 'approval_denied',
          ruleIds: terms.ruleIds,
          message: `the human declined ${permission}`,
        };
      }
      return {
        status: 'granted',
        via: 'approval',
        ruleIds: terms.ruleIds,
        grantId: grant.id,
        expiresAt: new Date(grant.expiresAt).toISOString(),
      };
    }
    if (!operatorMayApprove(mode)) {
      const error =
        context.elicitor?.elicit !== undefined && tooLong !== undefined
          ? elicitationOnly(permission, terms, tooLong)
          : elicitationOnly(permission, terms);
      return { status: 'denied', code: 'approval_denied', ruleIds: terms.ruleIds, message: error.message };
    }
    const approval = await this.humans.pendingApproval(
      principal,
      base,
      terms,
      request,
      request.constraints,
      undefined,
    );
    const url = this.deps.links?.approvalUrl(approval.id);
    return {
      status: 'pending',
      approvalId: approval.id,
      ...(url === undefined ? {} : { url }),
      ruleIds: terms.ruleIds,
      expiresAt: new Date(approval.expiresAt).toISOString(),
      nextStep:
        url === undefined
          ? `ask the operator to run \`keyward grants approve ${approval.id}\`, then retry the call`
          : `ask an operator to approve request ${approval.id} at ${url} (or with \`keyward grants approve ${approval.id}\`), then retry the call`,
    };
  }
}
