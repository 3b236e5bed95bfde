/**
 * GrantStore: time-limited grants and pending human approvals, behind one interface so the
 * server and `keyward grants` (another process) share them: SQLite (default), memory, Redis.
 * Every method is async so remote stores fit; the authorizer re-reads the store on every call
 * that relies on a grant, so a revocation takes effect on the next call.
 */

/** Scalar argument values a grant may be pinned to (exact match on every call). */
export type ArgConstraints = Readonly<Record<string, string | number | boolean>>;

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
    answer: { approved: boolean; by: string; now: number; ttlSeconds?: number },
  ): Promise<{ approval: PendingApproval; grant?: Grant } | undefined>;

  /**
   * Calls `listener` when grants or approvals change, also when another process changed them
   * (polling for file-backed stores). Returns an unsubscribe function.
   */
  watch?(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Whether a grant's argument constraints hold for these arguments (exact, type-sensitive). */
export function constraintsHold(
  constraints: ArgConstraints | undefined,
  args: Readonly<Record<string, unknown>>,
): boolean {
  if (constraints === undefined) return true;
  for (const [key, expected] of Object.entries(constraints)) {
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
