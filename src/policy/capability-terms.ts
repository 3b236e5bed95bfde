/**
 * What the parts of the capabilities layer share (issue 13: the authorizer split by role):
 * their dependencies, grant terms, the views and outcomes of the meta-tools, and small helpers.
 */
import type { AuditSink } from '../audit/audit-sink.js';
import type { RuleConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { KeywardError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Alert } from '../observability/notifier.js';
import type { ApprovalMode } from './approval-mode.js';
import type { Elicitor } from './authorizer.js';
import type { ArgConstraints, GrantStore } from './grant-store.js';
import type { PolicyEngine } from './policy-engine.js';
import type { RateLimiter } from './rate-limiter.js';

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

export function clip(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const TTL_CHOICES = [300, 900, 3600, 4 * 3600, 24 * 3600];

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
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing !== undefined) return existing;
    const run = fn().finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }
}

/** An `approval: "elicitation"` rule asked of a client that cannot elicit: nobody can approve it. */
export function elicitationOnly(
  permission: string,
  terms: GrantTerms,
  why = 'this client cannot ask',
): KeywardError {
  return new KeywardError(
    'approval_required',
    `permission ${permission} must be approved by the person in the MCP client (rule ${terms.ruleIds.join(', ')} allows elicitation only), and ${why}`,
  );
}

/**
 * The most JSON text of arguments (or of request_capability's constraints) a prompt in the client
 * shows. The prompt shows them in full or is not shown: cut at a limit, an agent would pad the
 * start and put what matters past the cut, and the person would approve a tail they never saw.
 */
export const PROMPT_ARGS_MAX = 4000;

/** Why the person in the client cannot be shown these arguments in full, or undefined when they can. */
export function tooLongToPrompt(args: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const length = args === undefined ? 0 : summarizeArgs(args, Infinity).length;
  return length <= PROMPT_ARGS_MAX
    ? undefined
    : `the arguments are too long to show in its prompt (${length} characters of JSON, at most ${PROMPT_ARGS_MAX}); send shorter arguments`;
}

export function sameConstraints(a: ArgConstraints | undefined, b: ArgConstraints | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a?.[k] === b?.[k]);
}

export function withUrl(url: string | undefined): { url?: string } {
  return url === undefined ? {} : { url };
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
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
