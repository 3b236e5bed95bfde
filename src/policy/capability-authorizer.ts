/**
 * The full Authorizer: rules (deny wins, then approve, then allow), grants for `approve` rules,
 * human approval by MCP elicitation or by `keyward grants approve`, and per-rule rate limits.
 * Grants and limits are checked on every call, before any credential is touched, so a cached
 * credential never skips them. Every lifecycle step is audited; alerts go to the notifier.
 */
import type { AuditSink } from '../audit/audit-sink.js';
import type { RuleConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { KeywardError } from '../core/errors.js';
import type { AuditEvent, Principal } from '../core/types.js';
import type { Logger } from '../observability/logger.js';
import type { Alert } from '../observability/notifier.js';
import { randomUUID } from 'node:crypto';
import type { Authorization, AuthorizeInput, Authorizer, Elicitor, FormElicitation } from './authorizer.js';
import { quoteUntrusted } from '../core/untrusted-text.js';
import {
  approvalMode,
  elicitationMayApprove,
  operatorMayApprove,
  type ApprovalMode,
} from './approval-mode.js';
import { denied } from './basic-authorizer.js';
import { conditionReadsArgs } from './cel-condition.js';
import {
  argsFingerprint,
  constraintsHold,
  grantIsLive,
  PINNED_ARGS,
  type ArgConstraints,
  type Grant,
  type GrantStore,
} from './grant-store.js';
import type { PolicyDecision, PolicyEngine } from './policy-engine.js';
import { rateKey, type RateLimiter } from './rate-limiter.js';

/** What the authorizer needs from the notifier (WebhookNotifier fits). */
export interface AlertSink {
  notify(alert: Alert): void;
  recordDenial?(
    agent: string,
    tenant: string,
    details: { tool: string; permission: string; code: string },
  ): void;
}

export interface CapabilityAuthorizerOptions {
  readonly engine: PolicyEngine;
  readonly grants: GrantStore;
  readonly rateLimiter: RateLimiter;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly notifier?: AlertSink;
  /** How long an unanswered approval request stays open (default 24 h). */
  readonly approvalTtlSeconds?: number;
  /** Called after this process changed grants (the gateway re-sends tools/list_changed). */
  readonly onGrantsChanged?: () => void;
  /** list_capabilities and request_capability calls per principal (default 30 a minute). */
  readonly metaToolRateLimit?: { readonly requests: number; readonly perSeconds: number };
  /** Links to the approval console; absent or yielding undefined when there is none. */
  readonly links?: ApprovalLinks;
  /** How long a call waits for an operator after a URL elicitation (default 300 s). */
  readonly operatorWaitSeconds?: number;
  /** How often a waiting call re-reads its approval request (default 250 ms). */
  readonly operatorPollMs?: number;
}

/** Where an operator answers an approval request in the browser (src/console/console-links.ts). */
export interface ApprovalLinks {
  approvalUrl(approvalId: string): string | undefined;
}

/** The grant terms of the deciding approve rules; with several, the strictest wins. */
export interface GrantTerms {
  readonly ruleId: string;
  readonly ruleIds: readonly string[];
  readonly ttlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly maxCalls: number | undefined;
}

export function grantTerms(rules: readonly RuleConfig[]): GrantTerms {
  const first = rules[0];
  if (first === undefined) throw new Error('grantTerms needs at least one rule');
  const maxTtl = Math.min(...rules.map((r) => r.maxGrantTtlSeconds ?? r.grantTtlSeconds));
  const ttl = Math.min(maxTtl, ...rules.map((r) => r.grantTtlSeconds));
  const calls = rules.map((r) => r.grantMaxCalls).filter((c): c is number => c !== undefined);
  return {
    ruleId: first.id,
    ruleIds: rules.map((r) => r.id),
    ttlSeconds: ttl,
    maxTtlSeconds: maxTtl,
    maxCalls: calls.length > 0 ? Math.min(...calls) : undefined,
  };
}

/** A short, bounded rendering of untrusted arguments for humans (never interpreted). */
export function summarizeArgs(args: Readonly<Record<string, unknown>>, max = 200): string {
  let text: string;
  try {
    text = JSON.stringify(args);
  } catch {
    text = '[unprintable]';
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function clip(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const TTL_CHOICES = [300, 900, 3600, 4 * 3600, 24 * 3600];

/** Open approval requests one principal may have at once (an agent cannot flood the operator). */
export const MAX_PENDING_PER_PRINCIPAL = 10;

export type CapabilityStatus = 'allowed' | 'granted' | 'needs_approval' | 'denied';

/** One line of list_capabilities. */
export interface CapabilityView {
  readonly tool: string;
  readonly permission: string;
  readonly status: CapabilityStatus;
  readonly ruleIds: readonly string[];
  /** True when a matching rule's condition reads the arguments: each call is still decided with its own. */
  readonly dependsOnArguments: boolean;
  /** For approve rules: who may approve (operator, elicitation or any). */
  readonly approval?: ApprovalMode;
  readonly grants: readonly {
    id: string;
    expiresAt: string;
    callsLeft?: number;
    constraints?: ArgConstraints;
  }[];
  readonly rateLimits: readonly { ruleId: string; requests: number; perSeconds: number; remaining: number }[];
}

export type RequestOutcome =
  | {
      status: 'granted';
      via: 'rule' | 'grant' | 'approval';
      ruleIds: readonly string[];
      grantId?: string;
      expiresAt?: string;
    }
  | {
      status: 'pending';
      approvalId: string;
      /** The console page of the request, when there is a console. */
      url?: string;
      ruleIds: readonly string[];
      expiresAt: string;
      nextStep: string;
    }
  | {
      status: 'denied';
      code: 'permission_denied' | 'approval_denied';
      ruleIds: readonly string[];
      message: string;
    };

export interface RequestInput {
  readonly permission: string;
  readonly justification?: string;
  readonly ttlSeconds?: number;
  /** Optional argument values the grant is pinned to (narrows; never widens). */
  readonly constraints?: ArgConstraints;
}

export interface RequestContext {
  readonly requestId: string;
  readonly sessionId?: string;
  readonly elicitor?: Elicitor;
}

/** Concurrent callers with the same key share one run of `fn` until it settles. */
class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing !== undefined) return existing;
    const run = fn().finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }
}

export class CapabilityAuthorizer implements Authorizer {
  /** One elicitation at a time per principal × permission × constraints. */
  private readonly inFlightApprovals = new SingleFlight<Grant | undefined>();
  /** Concurrent identical operator requests share one (issue 14: 300 parallel asks, one request). */
  private readonly openingApprovals = new SingleFlight<{
    id: string;
    expiresAt: number;
    deniedRecently: boolean;
  }>();

  constructor(
    private readonly options: CapabilityAuthorizerOptions,
    /** Tool name → permission, for request_capability and list_capabilities. */
    private readonly tools: ReadonlyMap<string, string> = new Map(),
  ) {}

  get engine(): PolicyEngine {
    return this.options.engine;
  }

  /** The grant store shared with the console and `keyward grants`. */
  get grants(): GrantStore {
    return this.options.grants;
  }

  canEverUse(principal: Principal, tool: string, permission: string): boolean {
    return this.options.engine.canEverUse({ principal, tool, permission });
  }

  async authorize(input: AuthorizeInput): Promise<Authorization> {
    const decision = this.options.engine.decide(input);
    if (decision.effect === 'deny') {
      await this.recordDenied(input, decision.ruleIds, 'permission_denied');
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
    const now = this.options.clock.now();
    const candidates = (
      await this.options.grants.grantsFor(principal.agent, principal.tenant, permission)
    ).filter((g) => constraintsHold(g.constraints, input.args));
    for (const grant of candidates) {
      if (!grantIsLive(grant, now)) continue;
      const used = await this.options.grants.useGrant(grant.id, now);
      if (used.ok) {
        await this.auditEvent(input, 'grant.used', {
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
      await this.recordDenied(input, decision.ruleIds, 'permission_denied', {
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
      await this.auditEvent(input, 'grant.expired', {
        decision: 'deny',
        ruleIds: decision.ruleIds,
        details: { grantId: lapsed.id, reason: now >= lapsed.expiresAt ? 'expired' : 'exhausted' },
      });
    }
    const terms = grantTerms(decision.rules);
    const mode = approvalMode(decision.rules, principal);
    if (input.elicitor?.elicit !== undefined && elicitationMayApprove(mode)) {
      const grant = await this.askHuman(
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
      const used = await this.options.grants.useGrant(grant.id, this.options.clock.now());
      if (!used.ok)
        throw new KeywardError('grant_expired', `the grant for ${permission} ran out before it was used`);
      return used.grant;
    }
    if (lapsed !== undefined) {
      const why = now >= lapsed.expiresAt ? 'expired' : 'has no calls left';
      throw new KeywardError('grant_expired', `the grant for ${permission} ${why} (grant ${lapsed.id})`);
    }
    if (!operatorMayApprove(mode)) throw elicitationOnly(permission, terms);
    const approval = await this.pendingApproval(principal, input, terms, undefined, undefined, input.tool);
    if (approval.deniedRecently) {
      throw new KeywardError(
        'approval_denied',
        `an operator declined ${permission} (request ${approval.id})`,
      );
    }
    const url = this.options.links?.approvalUrl(approval.id);
    if (url !== undefined && input.elicitor?.openUrl !== undefined) {
      const answer = await this.waitForOperator(input, approval.id, url, input.elicitor);
      if (answer === 'denied')
        throw new KeywardError(
          'approval_denied',
          `an operator declined ${permission} (request ${approval.id})`,
        );
      if (answer !== undefined) {
        const used = await this.options.grants.useGrant(answer.id, this.options.clock.now());
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

  /**
   * Points the person behind the agent's client at the console page of the request (URL-mode
   * elicitation) and waits for an operator's answer, read from the shared grant store (so an
   * answer given on another replica's console counts). The client's "accept" only means the page
   * was opened: the decision is the operator's. Returns the grant, 'denied', or undefined when
   * nobody answered in time, the user declined to open the page, or the call was cancelled.
   */
  private async waitForOperator(
    input: AuthorizeInput,
    approvalId: string,
    url: string,
    elicitor: Elicitor,
  ): Promise<Grant | 'denied' | undefined> {
    const elicitationId = `${approvalId}.${randomUUID()}`;
    const opened = elicitor.openUrl!({
      message:
        `An operator must approve "${input.permission}" for tool "${input.tool}" (request ${approvalId}). ` +
        'Open the approval page to review the exact arguments and decide; the call continues when they do.',
      url,
      elicitationId,
    }).catch((error: unknown) => {
      this.options.logger.warn({ requestId: input.requestId, err: String(error) }, 'URL elicitation failed');
      return 'cancel' as const;
    });
    const deadline = this.options.clock.now() + (this.options.operatorWaitSeconds ?? 300) * 1000;
    const pollMs = this.options.operatorPollMs ?? 250;
    let declined = false;
    void opened.then((action) => {
      if (action !== 'accept') declined = true;
    });
    try {
      for (;;) {
        const approval = await this.options.grants.getApproval(approvalId);
        if (approval?.status === 'denied') return 'denied';
        if (approval?.status === 'approved' && approval.grantId !== undefined)
          return await this.options.grants.getGrant(approval.grantId);
        if (approval === undefined || approval.status === 'expired') return undefined;
        if (declined || input.signal?.aborted === true || this.options.clock.now() >= deadline)
          return undefined;
        await sleep(pollMs, input.signal);
      }
    } finally {
      await elicitor.completeUrl?.(elicitationId).catch(() => undefined);
    }
  }

  /**
   * Asks the human through elicitation (one prompt at a time per principal × permission).
   * Returns the created grant, or undefined when declined or cancelled.
   */
  private askHuman(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'args' | 'requestId' | 'sessionId'>,
    terms: GrantTerms,
    request: RequestInput | undefined,
    elicit: FormElicitation,
    constraints: ArgConstraints | undefined,
    tool: string | undefined,
  ): Promise<Grant | undefined> {
    const key = `${input.principal.tenant}\u0000${input.principal.agent}\u0000${input.permission}\u0000${JSON.stringify(constraints ?? {})}`;
    return this.inFlightApprovals.run(key, () =>
      this.elicit(input, terms, request, elicit, constraints, tool),
    );
  }

  private async elicit(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'args' | 'requestId' | 'sessionId'>,
    terms: GrantTerms,
    request: RequestInput | undefined,
    elicit: FormElicitation,
    constraints: ArgConstraints | undefined,
    tool: string | undefined,
  ): Promise<Grant | undefined> {
    const { principal, permission } = input;
    const defaultTtl = Math.min(request?.ttlSeconds ?? terms.ttlSeconds, terms.maxTtlSeconds);
    const choices = [...new Set([...TTL_CHOICES.filter((c) => c <= terms.maxTtlSeconds), defaultTtl])].sort(
      (a, b) => a - b,
    );
    const justification = clip(request?.justification, 500);
    // Everything the agent wrote is quoted and escaped: it cannot add or rewrite lines of the prompt.
    const lines = [
      `Agent "${principal.agent}" (tenant "${principal.tenant}") asks for permission "${permission}"` +
        (tool === undefined ? '.' : ` to call tool "${tool}".`),
      ...(tool === undefined
        ? []
        : [
            `Arguments (sent by the agent, unverified): ${quoteUntrusted(summarizeArgs(input.args, 400), 400)}`,
          ]),
      ...(constraints === undefined
        ? []
        : [`Limited to arguments (unverified): ${quoteUntrusted(summarizeArgs(constraints, 400), 400)}`]),
      ...(justification === undefined
        ? []
        : [
            `Agent's justification (unverified, written by the agent): ${quoteUntrusted(justification, 500)}`,
          ]),
      `Grant lifetime: ${defaultTtl} s by default, at most ${terms.maxTtlSeconds} s` +
        (terms.maxCalls === undefined ? '.' : `, at most ${terms.maxCalls} calls.`),
      `Rule: ${terms.ruleIds.join(', ')}.`,
    ];
    await this.auditEvent(input, 'approval.requested', {
      tool,
      decision: 'approve',
      ruleIds: terms.ruleIds,
      details: {
        channel: 'elicitation',
        ttlSeconds: defaultTtl,
        ...(justification === undefined ? {} : { justification }),
      },
    });
    this.options.notifier?.notify({
      type: 'approval.requested',
      message: `agent ${principal.agent} asks for ${permission} (elicitation)`,
      agent: principal.agent,
      tenant: principal.tenant,
      permission,
      ...(tool === undefined ? {} : { tool }),
      details: { channel: 'elicitation', ruleIds: terms.ruleIds },
    });
    let answer: Awaited<ReturnType<FormElicitation>>;
    try {
      answer = await elicit({
        message: lines.join('\n'),
        requestedSchema: {
          type: 'object',
          properties: {
            approve: {
              type: 'boolean',
              title: 'Approve',
              description: `Allow ${permission} for ${principal.agent}`,
            },
            ttlSeconds: {
              type: 'string',
              title: 'Grant lifetime (seconds)',
              enum: choices.map(String),
              default: String(defaultTtl),
            },
          },
          required: ['approve'],
        },
      });
    } catch (error) {
      this.options.logger.warn(
        { requestId: input.requestId, err: String(error) },
        'elicitation failed; treated as declined',
      );
      answer = { action: 'cancel' };
    }
    const approved = answer.action === 'accept' && answer.content?.approve === true;
    const chosen = Number(answer.content?.ttlSeconds);
    const ttl = Number.isInteger(chosen) && chosen > 0 ? Math.min(chosen, terms.maxTtlSeconds) : defaultTtl;
    await this.auditEvent(input, 'approval.answered', {
      tool,
      decision: approved ? 'approved' : 'declined',
      ruleIds: terms.ruleIds,
      details: { channel: 'elicitation', action: answer.action, ...(approved ? { ttlSeconds: ttl } : {}) },
    });
    if (!approved) {
      await this.recordDenied({ ...input, tool: tool ?? '' }, terms.ruleIds, 'approval_denied');
      return undefined;
    }
    const now = this.options.clock.now();
    const grant = await this.options.grants.createGrant({
      agent: principal.agent,
      tenant: principal.tenant,
      permission,
      ...(constraints === undefined ? {} : { constraints }),
      createdAt: now,
      expiresAt: now + ttl * 1000,
      ...(terms.maxCalls === undefined ? {} : { maxCalls: terms.maxCalls }),
      createdBy: 'elicitation',
      ruleId: terms.ruleId,
      ...(justification === undefined ? {} : { justification }),
    });
    await this.auditEvent(input, 'capability.granted', {
      tool,
      decision: 'grant',
      ruleIds: terms.ruleIds,
      details: { grantId: grant.id, by: 'elicitation', expiresAt: new Date(grant.expiresAt).toISOString() },
    });
    this.options.onGrantsChanged?.();
    return grant;
  }

  /**
   * Takes one meta-tool call from the principal's bucket; a KeywardError `rate_limited` when it
   * is empty. An agent spamming request_capability cannot flood the operator, the audit trail or
   * the webhook.
   */
  async takeMetaToolCall(principal: Principal): Promise<void> {
    const limit = this.options.metaToolRateLimit ?? { requests: 30, perSeconds: 60 };
    const key = `meta\u0000${principal.tenant}\u0000${principal.agent}`;
    const taken = await this.options.rateLimiter.take(key, limit);
    if (!taken.ok) {
      throw new KeywardError(
        'rate_limited',
        `${limit.requests} calls of list_capabilities and request_capability per ${limit.perSeconds} s used up`,
        { retryAfterSeconds: taken.retryAfterSeconds },
      );
    }
  }

  /** Reuses or opens an approval request an operator answers with `keyward grants approve`. */
  private pendingApproval(
    ...args: Parameters<CapabilityAuthorizer['openApproval']>
  ): Promise<{ id: string; expiresAt: number; deniedRecently: boolean }> {
    const [principal, input, , , constraints, tool] = args;
    const scopeKey =
      tool === undefined ? JSON.stringify(constraints ?? {}) : `${tool}\u0000${argsFingerprint(input.args)}`;
    const key = `${principal.tenant}\u0000${principal.agent}\u0000${input.permission}\u0000${scopeKey}`;
    return this.openingApprovals.run(key, () => this.openApproval(...args));
  }

  private async openApproval(
    principal: Principal,
    input: Pick<AuthorizeInput, 'permission' | 'args' | 'requestId' | 'sessionId'>,
    terms: GrantTerms,
    request: RequestInput | undefined,
    constraints: ArgConstraints | undefined,
    tool: string | undefined,
  ): Promise<{ id: string; expiresAt: number; deniedRecently: boolean }> {
    const now = this.options.clock.now();
    const store = this.options.grants;
    // An operator approves what they were shown: a request opened by a call is pinned to that
    // call's arguments (the grant covers exactly them unless the operator widens it).
    const scope: ArgConstraints | undefined =
      tool === undefined ? constraints : { ...constraints, [PINNED_ARGS]: argsFingerprint(input.args) };
    const pendingOfPrincipal = (await store.listApprovals('pending', now)).filter(
      (a) => a.agent === principal.agent && a.tenant === principal.tenant,
    );
    const pending = pendingOfPrincipal.find(
      (a) => a.permission === input.permission && sameConstraints(a.constraints, scope),
    );
    if (pending !== undefined) return { id: pending.id, expiresAt: pending.expiresAt, deniedRecently: false };
    if (pendingOfPrincipal.length >= MAX_PENDING_PER_PRINCIPAL) {
      throw new KeywardError(
        'rate_limited',
        `${pendingOfPrincipal.length} approval requests of this agent are already waiting for an operator; wait for an answer`,
        { retryAfterSeconds: 60 },
      );
    }
    if (request === undefined) {
      // An operator's "deny" stands until that request would have lapsed; a call does not reopen it.
      const answered = (await store.listApprovals('denied', now)).find(
        (a) =>
          a.agent === principal.agent &&
          a.tenant === principal.tenant &&
          a.permission === input.permission &&
          a.expiresAt > now,
      );
      if (answered !== undefined)
        return { id: answered.id, expiresAt: answered.expiresAt, deniedRecently: true };
    }
    const ttlSeconds = Math.min(request?.ttlSeconds ?? terms.ttlSeconds, terms.maxTtlSeconds);
    const justification = clip(request?.justification, 500);
    const approval = await store.createApproval({
      agent: principal.agent,
      tenant: principal.tenant,
      ...(tool === undefined ? {} : { tool }),
      permission: input.permission,
      argsSummary: tool === undefined ? summarizeArgs(constraints ?? {}) : summarizeArgs(input.args),
      ...(tool === undefined ? {} : { argsJson: JSON.stringify(input.args) }),
      ...(justification === undefined ? {} : { justification }),
      ...(scope === undefined ? {} : { constraints: scope }),
      ttlSeconds,
      maxTtlSeconds: terms.maxTtlSeconds,
      ...(terms.maxCalls === undefined ? {} : { maxCalls: terms.maxCalls }),
      ruleIds: terms.ruleIds,
      requestedAt: now,
      expiresAt: now + (this.options.approvalTtlSeconds ?? 86_400) * 1000,
    });
    await this.auditEvent({ principal, ...input }, 'approval.requested', {
      tool,
      decision: 'approve',
      ruleIds: terms.ruleIds,
      details: {
        channel: 'operator',
        approvalId: approval.id,
        ttlSeconds,
        ...(justification === undefined ? {} : { justification }),
      },
    });
    this.options.notifier?.notify({
      type: 'approval.requested',
      message: `agent ${principal.agent} asks for ${input.permission}: approve at ${this.options.links?.approvalUrl(approval.id) ?? `\`keyward grants approve ${approval.id}\``}`,
      agent: principal.agent,
      tenant: principal.tenant,
      permission: input.permission,
      ...(tool === undefined ? {} : { tool }),
      details: { approvalId: approval.id, ruleIds: terms.ruleIds },
      ...withUrl(this.options.links?.approvalUrl(approval.id)),
    });
    this.options.onGrantsChanged?.();
    return { id: approval.id, expiresAt: approval.expiresAt, deniedRecently: false };
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
      const taken = await this.options.rateLimiter.take(key, rule.rateLimit);
      if (!taken.ok) {
        throw new KeywardError(
          'rate_limited',
          `${rule.rateLimit.requests} calls per ${rule.rateLimit.perSeconds} s for ${input.permission} used up (rule ${rule.id})`,
          { retryAfterSeconds: taken.retryAfterSeconds },
        );
      }
    }
  }

  /** list_capabilities: what each tool's permission means for this principal right now. */
  async describe(principal: Principal): Promise<CapabilityView[]> {
    const now = this.options.clock.now();
    const out: CapabilityView[] = [];
    const grantCache = new Map<string, Grant[]>();
    for (const [tool, permission] of this.tools) {
      const decision = this.options.engine.decide(
        { principal, tool, permission, args: {} },
        { argsUnknown: true },
      );
      const dependsOnArguments = this.options.engine.rules.some(
        (r) =>
          r.config.when !== undefined &&
          conditionReadsArgs(r.config.when) &&
          r.matchesTarget({ principal, tool, permission }),
      );
      let all = grantCache.get(permission);
      if (all === undefined) {
        all = await this.options.grants.grantsFor(principal.agent, principal.tenant, permission);
        grantCache.set(permission, all);
      }
      const grants = all.filter((g) => grantIsLive(g, now));
      const newest = all[0];
      let status: CapabilityStatus;
      if (decision.effect === 'deny') status = 'denied';
      else if (decision.effect === 'allow') status = 'allowed';
      else if (grants.some((g) => g.constraints === undefined)) status = 'granted';
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
            remaining: await this.options.rateLimiter.remaining(key, rule.rateLimit),
          });
        }
      }
      out.push({
        tool,
        permission,
        status,
        ruleIds: decision.ruleIds,
        dependsOnArguments,
        ...(decision.effect === 'approve' ? { approval: approvalMode(decision.rules, principal) } : {}),
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
    await this.auditEvent(base, 'capability.requested', {
      details: {
        ...(justification === undefined ? {} : { justification }),
        ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds }),
        ...(request.constraints === undefined ? {} : { constraints: request.constraints }),
      },
    });
    const toolNames = [...this.tools].filter(([, p]) => p === permission).map(([t]) => t);
    const decisions = (toolNames.length > 0 ? toolNames : ['']).map((tool) => ({
      tool,
      decision: this.options.engine.decide({ principal, tool, permission, args }, { argsUnknown: true }),
    }));
    const approve = decisions.find((d) => d.decision.effect === 'approve');
    const allow = decisions.find((d) => d.decision.effect === 'allow');
    if (approve === undefined) {
      if (allow !== undefined) {
        await this.auditEvent(base, 'capability.granted', {
          decision: 'allow',
          ruleIds: allow.decision.ruleIds,
          details: { by: `rule:${allow.decision.ruleIds.join(',')}` },
        });
        return { status: 'granted', via: 'rule', ruleIds: allow.decision.ruleIds };
      }
      const ruleIds = [...new Set(decisions.flatMap((d) => d.decision.ruleIds))];
      await this.recordDenied({ ...base, tool: toolNames[0] ?? '' }, ruleIds, 'permission_denied');
      return {
        status: 'denied',
        code: 'permission_denied',
        ruleIds,
        message: denied(permission, ruleIds).message,
      };
    }
    const terms = grantTerms(approve.decision.rules);
    const now = this.options.clock.now();
    const live = (await this.options.grants.grantsFor(principal.agent, principal.tenant, permission)).find(
      (g) => grantIsLive(g, now) && sameConstraints(g.constraints, request.constraints),
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
    const mode = approvalMode(approve.decision.rules, principal);
    if (context.elicitor?.elicit !== undefined && elicitationMayApprove(mode)) {
      const grant = await this.askHuman(
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
      const error = elicitationOnly(permission, terms);
      return { status: 'denied', code: 'approval_denied', ruleIds: terms.ruleIds, message: error.message };
    }
    const approval = await this.pendingApproval(
      principal,
      base,
      terms,
      request,
      request.constraints,
      undefined,
    );
    const url = this.options.links?.approvalUrl(approval.id);
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

  private async recordDenied(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'requestId' | 'sessionId'> & { tool: string },
    ruleIds: readonly string[],
    code: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.auditEvent(input, 'capability.denied', {
      tool: input.tool,
      decision: 'deny',
      ruleIds,
      details: { code, ...details },
    });
    this.options.notifier?.recordDenial?.(input.principal.agent, input.principal.tenant, {
      tool: input.tool,
      permission: input.permission,
      code,
    });
  }

  /** Best effort: the call's own call.started record is the fail-closed one. */
  private async auditEvent(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'requestId' | 'sessionId'> & { tool?: string },
    type: string,
    extra: {
      tool?: string | undefined;
      decision?: string;
      ruleIds?: readonly string[];
      details?: Record<string, unknown>;
    },
  ): Promise<void> {
    const tool = extra.tool ?? input.tool;
    const event: AuditEvent = {
      type,
      time: new Date(this.options.clock.now()).toISOString(),
      requestId: input.requestId,
      ...(input.sessionId === undefined ? {} : { sessionId: input.sessionId }),
      agent: input.principal.agent,
      tenant: input.principal.tenant,
      ...(tool === undefined || tool === '' ? {} : { tool }),
      permission: input.permission,
      ...(extra.decision === undefined ? {} : { decision: extra.decision }),
      ...(extra.ruleIds === undefined ? {} : { ruleIds: extra.ruleIds }),
      ...(extra.details === undefined ? {} : { details: extra.details }),
    };
    try {
      await this.options.audit.append(event);
    } catch (error) {
      this.options.logger.error(
        { requestId: input.requestId, type, err: String(error) },
        'audit: could not record',
      );
      this.options.notifier?.notify({
        type: 'audit.failure',
        message: `the audit trail could not record ${type}`,
        agent: input.principal.agent,
        tenant: input.principal.tenant,
        permission: input.permission,
      });
    }
  }
}

/** An `approval: "elicitation"` rule asked of a client that cannot elicit: nobody can approve it. */
function elicitationOnly(permission: string, terms: GrantTerms): KeywardError {
  return new KeywardError(
    'approval_required',
    `permission ${permission} must be approved by the person in the MCP client (rule ${terms.ruleIds.join(', ')} allows elicitation only), and this client cannot ask`,
  );
}

function sameConstraints(a: ArgConstraints | undefined, b: ArgConstraints | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a?.[k] === b?.[k]);
}

function withUrl(url: string | undefined): { url?: string } {
  return url === undefined ? {} : { url };
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
