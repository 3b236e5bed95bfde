/**
 * Asking a human (issue 13: the authorizer split by role): the person in the MCP client through a
 * form elicitation, or an operator through an approval request (answered in the console or with
 * `keyward grants`), including the URL elicitation that points the client's user at the console
 * page and the bounded wait for the operator's answer. Never decides on its own.
 */
import { randomUUID } from 'node:crypto';
import { KeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import { isolatedJson, quoteUntrusted } from '../core/untrusted-text.js';
import type { AuthorizeInput, Elicitor, FormElicitation } from './authorizer.js';
import {
  clip,
  MAX_PENDING_PER_PRINCIPAL,
  sameConstraints,
  SingleFlight,
  sleep,
  PROMPT_ARGS_MAX,
  summarizeArgs,
  tooLongToPrompt,
  TTL_CHOICES,
  withUrl,
  type CapabilityAuthorizerOptions,
  type GrantTerms,
  type RequestInput,
} from './capability-terms.js';
import {
  callFingerprint,
  forUser,
  grantedUser,
  PINNED_ARGS,
  type ArgConstraints,
  type Grant,
} from './grant-store.js';
import type { PolicyAudit } from './policy-audit.js';

/**
 * What the person answering a form elicitation for a call chooses the grant to cover. The default
 * is the call they were shown: an agent that got "yes" for one set of arguments must not reuse it
 * for others for the whole grant lifetime; widening it is the person's explicit choice.
 */
export const ELICITED_SCOPE = { call: 'only these arguments', any: 'any arguments' } as const;

/**
 * Who asks (tenant, agent and user: a call joining another user's question would get its grant
 * without being asked) and what: the permission and the call's fingerprint, or the constraints a
 * request_capability proposes. Identical questions share one prompt or one operator request.
 */
function questionKey(
  principal: Pick<AuthorizeInput['principal'], 'tenant' | 'agent' | 'user'>,
  permission: string,
  args: Readonly<Record<string, unknown>>,
  constraints: ArgConstraints | undefined,
  tool: string | undefined,
): { who: string; key: string } {
  const who = `${principal.tenant}\u0000${principal.agent}\u0000${principal.user ?? ''}`;
  const scope = tool === undefined ? JSON.stringify(constraints ?? {}) : callFingerprint(tool, args);
  return { who, key: `${who}\u0000${permission}\u0000${scope}` };
}

export class HumanApproval {
  /** One elicitation at a time per principal × permission × constraints. */
  private readonly inFlightApprovals = new SingleFlight<Grant | undefined>();
  /**
   * The prompt each principal (tenant, agent, user) has open in its client, by its single-flight
   * key: one at a time, so an agent cannot stack dozens of prompts for the person to click through.
   */
  private readonly openPrompts = new Map<string, string>();
  /** Concurrent identical operator requests share one (issue 14: 300 parallel asks, one request). */
  private readonly openingApprovals = new SingleFlight<{
    id: string;
    expiresAt: number;
    deniedRecently: boolean;
  }>();

  constructor(private readonly deps: CapabilityAuthorizerOptions & { readonly trail: PolicyAudit }) {}

  /**
   * Points the person behind the agent's client at the console page of the request (URL-mode
   * elicitation) and waits for an operator's answer, read from the shared grant store (so an
   * answer given on another replica's console counts). The client's "accept" only means the page
   * was opened: the decision is the operator's. Returns the grant, 'denied', or undefined when
   * nobody answered in time, the user declined to open the page, or the call was cancelled.
   */
  async waitForOperator(
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
      this.deps.logger.warn({ requestId: input.requestId, err: String(error) }, 'URL elicitation failed');
      return 'cancel' as const;
    });
    const deadline = this.deps.clock.now() + (this.deps.operatorWaitSeconds ?? 300) * 1000;
    const pollMs = this.deps.operatorPollMs ?? 250;
    let declined = false;
    void opened.then((action) => {
      if (action !== 'accept') declined = true;
    });
    try {
      for (;;) {
        const approval = await this.deps.grants.getApproval(approvalId);
        if (approval?.status === 'denied') return 'denied';
        if (approval?.status === 'approved' && approval.grantId !== undefined)
          return await this.deps.grants.getGrant(approval.grantId);
        if (approval === undefined || approval.status === 'expired') return undefined;
        if (declined || input.signal?.aborted === true || this.deps.clock.now() >= deadline) return undefined;
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
  askHuman(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'args' | 'requestId' | 'sessionId'>,
    terms: GrantTerms,
    request: RequestInput | undefined,
    elicit: FormElicitation,
    constraints: ArgConstraints | undefined,
    tool: string | undefined,
  ): Promise<Grant | undefined> {
    const { who, key } = questionKey(input.principal, input.permission, input.args, constraints, tool);
    const open = this.openPrompts.get(who);
    // The same question joins the open prompt; another one waits until it is answered.
    if (open !== undefined && open !== key) {
      throw new KeywardError(
        'rate_limited',
        `another approval is waiting for an answer in the client; ask again once it is answered`,
        { retryAfterSeconds: 5 },
      );
    }
    return this.inFlightApprovals.run(key, async () => {
      this.openPrompts.set(who, key);
      try {
        return await this.elicit(input, terms, request, elicit, constraints, tool);
      } finally {
        this.openPrompts.delete(who);
      }
    });
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
    // Callers ask only when tooLongToPrompt() passed; this holds it for any new caller.
    const tooLong = tooLongToPrompt(tool === undefined ? constraints : input.args);
    if (tooLong !== undefined) throw new KeywardError('approval_required', tooLong);
    // Every argument is shown in full (PROMPT_ARGS_MAX); everything the agent wrote is quoted and escaped: it cannot add or rewrite lines of the prompt.
    const lines = [
      `Agent "${principal.agent}" (tenant "${principal.tenant}") asks for permission "${permission}"` +
        (tool === undefined ? '.' : ` to call tool "${tool}".`),
      ...(tool === undefined
        ? []
        : [
            `Arguments (sent by the agent, unverified): ${isolatedJson(summarizeArgs(input.args, PROMPT_ARGS_MAX))}`,
          ]),
      ...(constraints === undefined
        ? []
        : [
            `Limited to arguments (unverified): ${isolatedJson(summarizeArgs(constraints, PROMPT_ARGS_MAX))}`,
          ]),
      ...(justification === undefined
        ? []
        : [
            `Agent's justification (unverified, written by the agent): ${quoteUntrusted(justification, 500)}`,
          ]),
      `Grant lifetime: ${defaultTtl} s by default, at most ${terms.maxTtlSeconds} s` +
        (terms.maxCalls === undefined ? '.' : `, at most ${terms.maxCalls} calls.`),
      `Rule: ${terms.ruleIds.join(', ')}.`,
    ];
    await this.deps.trail.event(input, 'approval.requested', {
      tool,
      decision: 'approve',
      ruleIds: terms.ruleIds,
      details: {
        channel: 'elicitation',
        ttlSeconds: defaultTtl,
        ...(justification === undefined ? {} : { justification }),
      },
    });
    this.deps.notifier?.notify({
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
            ...(tool === undefined
              ? {}
              : {
                  scope: {
                    type: 'string',
                    title: 'The grant covers',
                    enum: [ELICITED_SCOPE.call, ELICITED_SCOPE.any],
                    default: ELICITED_SCOPE.call,
                  },
                }),
          },
          required: ['approve'],
        },
      });
    } catch (error) {
      this.deps.logger.warn(
        { requestId: input.requestId, err: String(error) },
        'elicitation failed; treated as declined',
      );
      answer = { action: 'cancel' };
    }
    const approved = answer.action === 'accept' && answer.content?.approve === true;
    const chosen = Number(answer.content?.ttlSeconds);
    const ttl = Number.isInteger(chosen) && chosen > 0 ? Math.min(chosen, terms.maxTtlSeconds) : defaultTtl;
    // A call's grant is pinned to that call unless the person chose "any arguments" (a missing or
    // unknown answer keeps the pin: fail closed).
    const pinned = tool !== undefined && answer.content?.scope !== ELICITED_SCOPE.any;
    await this.deps.trail.event(input, 'approval.answered', {
      tool,
      decision: approved ? 'approved' : 'declined',
      ruleIds: terms.ruleIds,
      details: {
        channel: 'elicitation',
        action: answer.action,
        ...(approved ? { ttlSeconds: ttl } : {}),
        ...(approved && tool !== undefined ? { pinned } : {}),
      },
    });
    if (!approved) {
      await this.deps.trail.denied({ ...input, tool: tool ?? '' }, terms.ruleIds, 'approval_denied');
      return undefined;
    }
    // The grant answers only for the user the call acts for, not for every user of the agent.
    const scope = forUser(
      pinned ? { ...constraints, [PINNED_ARGS]: callFingerprint(tool, input.args) } : constraints,
      principal.user,
    );
    const now = this.deps.clock.now();
    const grant = await this.deps.grants.createGrant({
      agent: principal.agent,
      tenant: principal.tenant,
      permission,
      ...(scope === undefined ? {} : { constraints: scope }),
      createdAt: now,
      expiresAt: now + ttl * 1000,
      ...(terms.maxCalls === undefined ? {} : { maxCalls: terms.maxCalls }),
      createdBy: 'elicitation',
      ruleId: terms.ruleId,
      ...(justification === undefined ? {} : { justification }),
    });
    try {
      await this.deps.trail.recorded(input, 'capability.granted', {
        tool,
        decision: 'grant',
        ruleIds: terms.ruleIds,
        details: { grantId: grant.id, by: 'elicitation', expiresAt: new Date(grant.expiresAt).toISOString() },
      });
    } catch (error) {
      // A grant nobody can see in the trail must not stand (as the approval desk does for operators).
      await this.deps.grants.revokeGrant(grant.id, 'elicitation (not recorded)', this.deps.clock.now());
      throw error;
    }
    this.deps.onGrantsChanged?.();
    return grant;
  }

  /** Reuses or opens an approval request an operator answers with `keyward grants approve`. */
  pendingApproval(
    ...args: Parameters<HumanApproval['openApproval']>
  ): Promise<{ id: string; expiresAt: number; deniedRecently: boolean }> {
    const [principal, input, , , constraints, tool] = args;
    const { key } = questionKey(principal, input.permission, input.args, constraints, tool);
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
    const now = this.deps.clock.now();
    const store = this.deps.grants;
    // An operator approves what they were shown: a request opened by a call is pinned to that
    // call's arguments (the grant covers exactly them unless the operator widens it), and to the
    // user the call acts for (--any-args widens the arguments, never the user).
    const scope = forUser(
      tool === undefined ? constraints : { ...constraints, [PINNED_ARGS]: callFingerprint(tool, input.args) },
      principal.user,
    );
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
      // It stands for the user it was asked for: alice's denied call must not lock bob out.
      const answered = (await store.listApprovals('denied', now)).find(
        (a) =>
          a.agent === principal.agent &&
          a.tenant === principal.tenant &&
          grantedUser(a.constraints) === principal.user &&
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
      expiresAt: now + (this.deps.approvalTtlSeconds ?? 86_400) * 1000,
    });
    await this.deps.trail.event({ principal, ...input }, 'approval.requested', {
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
    this.deps.notifier?.notify({
      type: 'approval.requested',
      message: `agent ${principal.agent} asks for ${input.permission}: approve at ${this.deps.links?.approvalUrl(approval.id) ?? `\`keyward grants approve ${approval.id}\``}`,
      agent: principal.agent,
      tenant: principal.tenant,
      permission: input.permission,
      ...(tool === undefined ? {} : { tool }),
      details: { approvalId: approval.id, ruleIds: terms.ruleIds },
      ...withUrl(this.deps.links?.approvalUrl(approval.id)),
    });
    this.deps.onGrantsChanged?.();
    return { id: approval.id, expiresAt: approval.expiresAt, deniedRecently: false };
  }
}
