/** GrantStore in process memory: tests and single-process setups (grants vanish on restart). */
import { randomBytes } from 'node:crypto';
import {
  PINNED_ARGS,
  type ApprovalAnswer,
  grantIsLive,
  type ApprovalStatus,
  type Grant,
  type GrantQuery,
  type GrantStore,
  type NewApproval,
  type NewGrant,
  type PendingApproval,
  type UseResult,
} from './grant-store.js';

/** Short, unguessable ids: `g_…` for grants, `a_…` for approvals. */
export function newId(prefix: 'g' | 'a'): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}

/** The effective status of an approval at `now` (pending requests lapse at their expiry). */
export function approvalStatusAt(approval: PendingApproval, now: number): ApprovalStatus {
  return approval.status === 'pending' && now >= approval.expiresAt ? 'expired' : approval.status;
}

export function matchesQuery(grant: Grant, query: GrantQuery, now: number): boolean {
  return (
    (query.agent === undefined || grant.agent === query.agent) &&
    (query.tenant === undefined || grant.tenant === query.tenant) &&
    (query.permission === undefined || grant.permission === query.permission) &&
    (query.includeInactive === true || grantIsLive(grant, now))
  );
}

export class MemoryGrantStore implements GrantStore {
  readonly kind = 'memory';
  private readonly grants = new Map<string, Grant>();
  private readonly approvals = new Map<string, PendingApproval>();
  private readonly listeners = new Set<() => void>();

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  createGrant(input: NewGrant): Promise<Grant> {
    const grant: Grant = { ...input, id: newId('g'), used: 0 };
    this.grants.set(grant.id, grant);
    this.changed();
    return Promise.resolve(grant);
  }

  getGrant(id: string): Promise<Grant | undefined> {
    return Promise.resolve(this.grants.get(id));
  }

  grantsFor(agent: string, tenant: string, permission: string): Promise<Grant[]> {
    return Promise.resolve(
      [...this.grants.values()]
        .filter((g) => g.agent === agent && g.tenant === tenant && g.permission === permission)
        .sort((a, b) => b.createdAt - a.createdAt),
    );
  }

  listGrants(query: GrantQuery, now: number): Promise<Grant[]> {
    return Promise.resolve(
      [...this.grants.values()]
        .filter((g) => matchesQuery(g, query, now))
        .sort((a, b) => b.createdAt - a.createdAt),
    );
  }

  useGrant(id: string, now: number): Promise<UseResult> {
    const grant = this.grants.get(id);
    if (grant === undefined) return Promise.resolve({ ok: false, reason: 'missing' });
    if (grant.revokedAt !== undefined) return Promise.resolve({ ok: false, reason: 'revoked' });
    if (now >= grant.expiresAt) return Promise.resolve({ ok: false, reason: 'expired' });
    if (grant.maxCalls !== undefined && grant.used >= grant.maxCalls) {
      return Promise.resolve({ ok: false, reason: 'exhausted' });
    }
    const used: Grant = { ...grant, used: grant.used + 1 };
    this.grants.set(id, used);
    return Promise.resolve({ ok: true, grant: used });
  }

  revokeGrant(id: string, by: string, now: number): Promise<Grant | undefined> {
    const grant = this.grants.get(id);
    if (grant === undefined) return Promise.resolve(undefined);
    if (grant.revokedAt !== undefined) return Promise.resolve(grant);
    const revoked: Grant = { ...grant, revokedAt: now, revokedBy: by };
    this.grants.set(id, revoked);
    this.changed();
    return Promise.resolve(revoked);
  }

  createApproval(input: NewApproval): Promise<PendingApproval> {
    const approval: PendingApproval = { ...input, id: newId('a'), status: 'pending' };
    this.approvals.set(approval.id, approval);
    this.changed();
    return Promise.resolve(approval);
  }

  getApproval(id: string): Promise<PendingApproval | undefined> {
    return Promise.resolve(this.approvals.get(id));
  }

  findPendingApproval(
    agent: string,
    tenant: string,
    permission: string,
    now: number,
  ): Promise<PendingApproval | undefined> {
    return Promise.resolve(
      [...this.approvals.values()].find(
        (a) =>
          a.agent === agent &&
          a.tenant === tenant &&
          a.permission === permission &&
          approvalStatusAt(a, now) === 'pending',
      ),
    );
  }

  listApprovals(status: ApprovalStatus | undefined, now: number): Promise<PendingApproval[]> {
    return Promise.resolve(
      [...this.approvals.values()]
        .map((a) => ({ ...a, status: approvalStatusAt(a, now) }))
        .filter((a) => status === undefined || a.status === status)
        .sort((a, b) => b.requestedAt - a.requestedAt),
    );
  }

  async answerApproval(
    id: string,
    answer: ApprovalAnswer,
  ): Promise<{ approval: PendingApproval; grant?: Grant } | undefined> {
    const approval = this.approvals.get(id);
    if (approval === undefined) return undefined;
    const status = approvalStatusAt(approval, answer.now);
    if (status !== 'pending') return { approval: { ...approval, status } };
    let grant: Grant | undefined;
    if (answer.approved) {
      grant = await this.createGrant(grantFromApproval(approval, answer));
    }
    const answered: PendingApproval = {
      ...approval,
      status: answer.approved ? 'approved' : 'denied',
      answeredAt: answer.now,
      answeredBy: answer.by,
      ...(grant === undefined ? {} : { grantId: grant.id }),
    };
    this.approvals.set(id, answered);
    this.changed();
    return grant === undefined ? { approval: answered } : { approval: answered, grant };
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}

/** The grant an approved request turns into; an operator's TTL is capped by the rule's maximum. */
export function grantFromApproval(
  approval: PendingApproval,
  answer: Pick<ApprovalAnswer, 'by' | 'now' | 'ttlSeconds' | 'anyArgs'>,
): NewGrant {
  const ttl = Math.min(answer.ttlSeconds ?? approval.ttlSeconds, approval.maxTtlSeconds);
  let constraints = approval.constraints;
  if (answer.anyArgs === true && constraints !== undefined) {
    const { [PINNED_ARGS]: _pinned, ...rest } = constraints;
    constraints = Object.keys(rest).length > 0 ? rest : undefined;
  }
  return {
    agent: approval.agent,
    tenant: approval.tenant,
    permission: approval.permission,
    ...(constraints === undefined ? {} : { constraints }),
    createdAt: answer.now,
    expiresAt: answer.now + ttl * 1000,
    ...(approval.maxCalls === undefined ? {} : { maxCalls: approval.maxCalls }),
    createdBy: answer.by,
    ...(approval.ruleIds[0] === undefined ? {} : { ruleId: approval.ruleIds[0] }),
    ...(approval.justification === undefined ? {} : { justification: approval.justification }),
    approvalId: approval.id,
  };
}
