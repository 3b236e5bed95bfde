/**
 * GrantStore: time-limited grants and pending human approvals, behind one interface so the
 * server and `keyward grants` (another process) share them: SQLite (default), memory, Redis.
 * Every method is async so remote stores fit; the authorizer re-reads the store on every call
 * that relies on a grant, so a revocation takes effect on the next call.
 */

import { createHash } from 'node:crypto';

/**
 * Scalar argument values a grant may be pinned to (exact match on every call). The reserved key
 * PINNED_ARGS pins it to one call instead: that tool with those whole arguments (callFingerprint).
 */
export type ArgConstraints = Readonly<Record<string, string | number | boolean>>;

/**
 * Constraint key of a grant pinned to exactly the arguments an operator was shown (issue 12 §3):
 * its value is callFingerprint(tool, args). `grants approve --any-args` leaves it out.
 */
export const PINNED_ARGS = '$args';

/**
 * Constraint key of a grant given for one person the agent acts for (the principal's `user`,
 * from the token, never from arguments): an approval of alice's call is not an approval to act
 * for bob through the same agent. Grants asked by a principal that names no user leave it out.
 */
export const GRANTED_USER = '$user';

/** The keys of a grant's scope that no agent may set: keyward writes them from what it verified. */
export const RESERVED_CONSTRAINTS: readonly string[] = [PINNED_ARGS, GRANTED_USER];

/** `constraints` bound to `user` when the principal names one (the scope of a grant it asks for). */
export function forUser(
  constraints: ArgConstraints | undefined,
  user: string | undefined,
): ArgConstraints | undefined {
  return user === undefined ? constraints : { ...constraints, [GRANTED_USER]: user };
}

/** The user a grant or approval request is for (`forUser`), if any. */
export function grantedUser(constraints: ArgConstraints | undefined): string | undefined {
  const user = constraints?.[GRANTED_USER];
  return user === undefined ? undefined : String(user);
}

/** How an approval is answered (stores apply it atomically). */
export interface ApprovalAnswer {
  readonly approved: boolean;
  /** `operator:<name>` (CLI, console) or `elicitation`. */
  readonly by: string;
  readonly now: number;
  /** Grant lifetime; capped by the request's maxTtlSeconds. */
  readonly ttlSeconds?: number;
  /** Widen a grant pinned to one call's arguments to any arguments (an explicit operator choice). */
  readonly anyArgs?: boolean;
}

/** Canonical JSON (sorted keys) of a value, for fingerprints. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * A short hash of one call: the tool and its arguments, independent of key order. The tool is in
 * it because tools may share a permission: an approval of `delete_repo {"name":"x"}` must not also
 * cover `delete_branch {"name":"x"}`.
 */
export function callFingerprint(tool: string, args: Readonly<Record<string, unknown>>): string {
  return createHash('sha256')
    .update(`${JSON.stringify(tool)}\u0000${canonical(args)}`)
    .digest('base64url')
    .slice(0, 22);
}

/** The call a grant's constraints are checked against. */
export interface ConstrainedCall {
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** The user the call acts for (the verified principal's), checked against GRANTED_USER. */
  readonly user: string | undefined;
}

/** The scope of a grant in words, for `grants list` and the console. */
export function grantScope(constraints: ArgConstraints | undefined): string {
  if (constraints === undefined) return 'any arguments';
  const { [PINNED_ARGS]: pinned, [GRANTED_USER]: user, ...values } = constraints;
  const parts: string[] = [];
  if (pinned !== undefined) parts.push('only the arguments of the approved call');
  if (Object.keys(values).length > 0) parts.push(`only ${JSON.stringify(values)}`);
  if (parts.length === 0) parts.push('any arguments');
  if (user !== undefined) parts.push(`for user ${JSON.stringify(user)} only`);
  return parts.join(', ');
}

export interface Grant {
  /** Opaque id shown by `keyward grants list` (e.g. `g_…`). */
  readonly id: string;
  /** The principal the grant is bound to: the agent name and tenant, never taken from arguments. */
  readonly agent: string;
  readonly tenant: string;
  /** The exact permission granted (no wildcards). */
  readonly permission: string;
  /** When set, every argument named here must equal the given value for the grant to apply. */
  readonly constraints?: ArgConstraints;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms after which the grant no longer applies. */
  readonly expiresAt: number;
  /** Maximum number of calls the grant covers; absent = unlimited until expiry. */
  readonly maxCalls?: number;
  /** Calls consumed so far. */
  readonly used: number;
  /** Who created it: `rule:<id>`, `elicitation` (the human in the MCP client) or `operator:<name>`. */
  readonly createdBy: string;
  /** The approve rule the grant answers, if any. */
  readonly ruleId?: string;
  /** The agent's justification when it asked (untrusted text; shown, never interpreted). */
  readonly justification?: string;
  /** The approval this grant came from, if any. */
  readonly approvalId?: string;
  /** Epoch ms when revoked; a revoked grant never applies again. */
  readonly revokedAt?: number;
  readonly revokedBy?: string;
}

export type NewGrant = Omit<Grant, 'id' | 'used' | 'revokedAt' | 'revokedBy'>;

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface PendingApproval {
  /** Opaque id an operator passes to `keyward grants approve|deny ID` (e.g. `a_…`). */
  readonly id: string;
  /** Requested by this principal. */
  readonly agent: string;
  readonly tenant: string;
  /** The tool whose call asked (absent for `request_capability`). */
  readonly tool?: string;
  readonly permission: string;
  /** A short, truncated rendering of the arguments, for the operator's eyes only. */
  readonly argsSummary: string;
  /**
   * The exact arguments of the call that asked, as JSON (≤ the 64 KiB argument cap), so the
   * console shows what a pinned grant will cover. Absent for `request_capability` and for
   * requests stored before this field existed.
   */
  readonly argsJson?: string;
  readonly justification?: string;
  readonly constraints?: ArgConstraints;
  /** TTL the grant gets when approved (already capped by the rule). */
  readonly ttlSeconds: number;
  /** Upper bound an operator may choose with `--ttl` (the rule's maxGrantTtlSeconds). */
  readonly maxTtlSeconds: number;
  readonly maxCalls?: number;
  readonly ruleIds: readonly string[];
  /** Epoch ms. */
  readonly requestedAt: number;
  /** Epoch ms after which an unanswered request lapses. */
  readonly expiresAt: number;
  readonly status: ApprovalStatus;
  readonly answeredAt?: number;
  readonly answeredBy?: string;
  /** The grant created when approved. */
  readonly grantId?: string;
}

export type NewApproval = Omit<PendingApproval, 'id' | 'status' | 'answeredAt' | 'answeredBy' | 'grantId'>;

/** The outcome of consuming one call from a grant, decided atomically by the store. */
export type UseResult =
  | { readonly ok: true; readonly grant: Grant }
  | { readonly ok: false; readonly reason: 'missing' | 'revoked' | 'expired' | 'exhausted' };

export interface GrantQuery {
  readonly agent?: string;
  readonly tenant?: string;
  readonly permission?: string;
  /** Include revoked, expired and used-up grants (default false: live only). */
  readonly includeInactive?: boolean;
}

export interface GrantStore {
  readonly kind: string;
  /** Stores a new grant and returns it with its id. */
  createGrant(grant: NewGrant): Promise<Grant>;
  getGrant(id: string): Promise<Grant | undefined>;
  /**
   * Grants for this agent+tenant+permission, newest first, including inactive ones (the
   * authorizer tells expired from missing). Served by an index: called on every grant-backed call.
   */
  grantsFor(agent: string, tenant: string, permission: string): Promise<Grant[]>;
  /** Grants matching the query at `now`, newest first. */
  listGrants(query: GrantQuery, now: number): Promise<Grant[]>;
  /** Consumes one call atomically: checks revoked, expiry and maxCalls, then increments `used`. */
  useGrant(id: string, now: number): Promise<UseResult>;
  /** Revokes at once; returns the grant, or undefined if no such id. Idempotent. */
  revokeGrant(id: string, by: string, now: number): Promise<Grant | undefined>;

  createApproval(approval: NewApproval): Promise<PendingApproval>;
  getApproval(id: string): Promise<PendingApproval | undefined>;
  /** A still-pending, unexpired request from this principal for this permission, to avoid duplicates. */
  findPendingApproval(
    agent: string,
    tenant: string,
    permission: string,
    now: number,
  ): Promise<PendingApproval | undefined>;
  listApprovals(status: ApprovalStatus | undefined, now: number): Promise<PendingApproval[]>;
  /**
   * Answers a pending request atomically (only one answer wins). On approval the grant is
   * created in the same transaction. Returns undefined if the id is unknown; throws nothing for
   * an already-answered request but returns it unchanged (check `status`).
   */
  answerApproval(
    id: string,
    answer: ApprovalAnswer,
  ): Promise<{ approval: PendingApproval; grant?: Grant } | undefined>;

  /**
   * Calls `listener` when grants or approvals change, also when another process changed them
   * (polling for file-backed stores). Returns an unsubscribe function.
   */
  watch?(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Whether a grant's constraints hold for this call (exact, type-sensitive). */
export function constraintsHold(constraints: ArgConstraints | undefined, call: ConstrainedCall): boolean {
  if (constraints === undefined) return true;
  const { args } = call;
  for (const [key, expected] of Object.entries(constraints)) {
    if (key === PINNED_ARGS) {
      if (callFingerprint(call.tool, args) !== expected) return false;
      continue;
    }
    if (key === GRANTED_USER) {
      if (call.user !== expected) return false;
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(args, key) || args[key] !== expected) return false;
  }
  return true;
}

/** Whether a grant applies at `now` (ignores constraints). */
export function grantIsLive(grant: Grant, now: number): boolean {
  return (
    grant.revokedAt === undefined &&
    now < grant.expiresAt &&
    (grant.maxCalls === undefined || grant.used < grant.maxCalls)
  );
}
