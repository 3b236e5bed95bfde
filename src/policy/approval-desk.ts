/**
 * The operator's side of approvals, in one place for every way an operator acts: `keyward grants
 * approve|deny|revoke` and the browser console. Each action is decided atomically by the grant
 * store and recorded in the audit trail with the operator's identity (`operator:<name>`) and the
 * channel (`cli`, `console`).
 *
 * Recording an approval is fail-closed: when the audit trail cannot record it, the grant just
 * created is withdrawn again and the operator is told. A deny or a revoke stands even when it
 * cannot be recorded (it only takes access away); the operator is warned.
 */
import { auditEvent, type AuditEventType } from '../core/audit-events.js';
import type { AuditEvent } from '../core/types.js';
import type { Clock } from '../core/clock.js';
import { grantedUser, grantScope, type Grant, type GrantStore, type PendingApproval } from './grant-store.js';

export type OperatorChannel = 'cli' | 'console';

/** Writes one audit event durably; rejects when it cannot. */
export type AuditWriter = (event: AuditEvent) => Promise<void>;

export interface DeskOperator {
  /** The operator's name (console sign-in or OS user); recorded as `operator:<name>`. */
  readonly name: string;
  readonly channel: OperatorChannel;
}

export interface ApproveChoice {
  /** Grant lifetime; capped by the request's maxTtlSeconds. */
  readonly ttlSeconds?: number;
  /** Widen a grant pinned to one call's arguments to any arguments. */
  readonly anyArgs?: boolean;
}

/** Why an operator action did not happen, in words for the operator. */
export class DeskError extends Error {
  constructor(
    readonly reason: 'not_found' | 'not_pending' | 'audit_unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'DeskError';
  }
}

export interface DeskResult<T> {
  readonly value: T;
  /** Set when the action stands but the audit trail could not record it. */
  readonly warning?: string;
}

export class ApprovalDesk {
  constructor(
    private readonly store: GrantStore,
    private readonly audit: AuditWriter,
    private readonly clock: Clock,
  ) {}

  async approve(
    id: string,
    operator: DeskOperator,
    choice: ApproveChoice = {},
  ): Promise<DeskResult<{ approval: PendingApproval; grant: Grant }>> {
    const by = `operator:${operator.name}`;
    const answered = await this.store.answerApproval(id, {
      approved: true,
      by,
      now: this.clock.now(),
      ...(choice.ttlSeconds === undefined ? {} : { ttlSeconds: choice.ttlSeconds }),
      ...(choice.anyArgs === true ? { anyArgs: true } : {}),
    });
    if (answered === undefined) throw new DeskError('not_found', `no approval request ${id}`);
    const { approval, grant } = answered;
    if (grant === undefined)
      throw new DeskError('not_pending', `approval request ${id} is ${approval.status}, not pending`);
    const scope = grantScope(grant.constraints);
    try {
      await this.audit(
        this.about(approval, 'approval.answered', {
          decision: 'approved',
          details: { approvalId: id, by, channel: 'operator', via: operator.channel, scope },
        }),
      );
      await this.audit(
        this.about(approval, 'capability.granted', {
          decision: 'grant',
          details: {
            grantId: grant.id,
            by,
            via: operator.channel,
            approvalId: id,
            expiresAt: new Date(grant.expiresAt).toISOString(),
            scope,
          },
        }),
      );
    } catch {
      // An approval nobody can see in the trail must not stand.
      await this.store.revokeGrant(grant.id, `${by} (not recorded)`, this.clock.now());
      throw new DeskError(
        'audit_unavailable',
        `the audit trail could not record the approval of ${id}; the grant was withdrawn, try again`,
      );
    }
    return { value: { approval, grant } };
  }

  async deny(id: string, operator: DeskOperator, reason?: string): Promise<DeskResult<PendingApproval>> {
    const by = `operator:${operator.name}`;
    const answered = await this.store.answerApproval(id, { approved: false, by, now: this.clock.now() });
    if (answered === undefined) throw new DeskError('not_found', `no approval request ${id}`);
    const { approval } = answered;
    if (approval.status !== 'denied' || approval.answeredBy !== by)
      throw new DeskError('not_pending', `approval request ${id} is ${approval.status}, not pending`);
    const warning = await this.tryAudit(
      this.about(approval, 'approval.answered', {
        decision: 'declined',
        details: {
          approvalId: id,
          by,
          channel: 'operator',
          via: operator.channel,
          ...(reason === undefined || reason === '' ? {} : { reason: reason.slice(0, 500) }),
        },
      }),
    );
    return { value: approval, ...(warning === undefined ? {} : { warning }) };
  }

  async revoke(grantId: string, operator: DeskOperator): Promise<DeskResult<Grant>> {
    const by = `operator:${operator.name}`;
    const grant = await this.store.revokeGrant(grantId, by, this.clock.now());
    if (grant === undefined) throw new DeskError('not_found', `no grant ${grantId}`);
    const warning = await this.tryAudit(
      auditEvent(
        'grant.revoked',
        this.clock.now(),
        {
          agent: grant.agent,
          tenant: grant.tenant,
          user: grantedUser(grant.constraints),
          permission: grant.permission,
        },
        { decision: 'revoked', details: { grantId, by: grant.revokedBy ?? by, via: operator.channel } },
      ),
    );
    return { value: grant, ...(warning === undefined ? {} : { warning }) };
  }

  /** An event about one approval request, by the shared constructor (core/audit-events.ts). */
  private about(
    approval: PendingApproval,
    type: AuditEventType,
    fields: { decision: string; details: Record<string, unknown> },
  ): AuditEvent {
    return auditEvent(
      type,
      this.clock.now(),
      {
        agent: approval.agent,
        tenant: approval.tenant,
        user: grantedUser(approval.constraints),
        tool: approval.tool,
        permission: approval.permission,
      },
      { ...fields, ruleIds: approval.ruleIds },
    );
  }

  private async tryAudit(event: AuditEvent): Promise<string | undefined> {
    try {
      await this.audit(event);
      return undefined;
    } catch {
      return `the audit trail could not record ${event.type}; the action stands`;
    }
  }
}
