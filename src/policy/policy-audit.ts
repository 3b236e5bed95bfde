/**
 * The capabilities layer's audit records and denial alerts, in one place: best effort (the call's
 * own call.started record is the fail-closed one), except a grant a human gave, which stands only
 * once recorded (`recorded`); a record that cannot be written raises an `audit.failure` alert.
 * Event types come from the one union in core/audit-events.ts.
 */
import { auditEvent, type AuditEventType } from '../core/audit-events.js';
import { KeywardError } from '../core/errors.js';
import type { AuthorizeInput } from './authorizer.js';
import type { CapabilityAuthorizerOptions } from './capability-terms.js';

export class PolicyAudit {
  constructor(private readonly deps: CapabilityAuthorizerOptions) {}

  async denied(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'requestId' | 'sessionId'> & { tool: string },
    ruleIds: readonly string[],
    code: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.event(input, 'capability.denied', {
      tool: input.tool,
      decision: 'deny',
      ruleIds,
      details: { code, ...details },
    });
    this.deps.notifier?.recordDenial?.(input.principal.agent, input.principal.tenant, {
      tool: input.tool,
      permission: input.permission,
      code,
    });
  }

  /** Best effort: the call's own call.started record is the fail-closed one. */
  async event(...args: Parameters<PolicyAudit['recorded']>): Promise<void> {
    try {
      await this.recorded(...args);
    } catch {
      // logged and alerted by recorded()
    }
  }

  /**
   * Fail closed: throws `audit_unavailable` (after logging and alerting) when the record cannot be
   * written, for what must not stand unrecorded, such as a grant created by elicitation.
   */
  async recorded(
    input: Pick<AuthorizeInput, 'principal' | 'permission' | 'requestId' | 'sessionId'> & { tool?: string },
    type: AuditEventType,
    extra: {
      tool?: string | undefined;
      decision?: string;
      ruleIds?: readonly string[];
      details?: Record<string, unknown>;
    },
  ): Promise<void> {
    const event = auditEvent(
      type,
      this.deps.clock.now(),
      {
        requestId: input.requestId,
        sessionId: input.sessionId,
        agent: input.principal.agent,
        tenant: input.principal.tenant,
        user: input.principal.user,
        tool: extra.tool ?? input.tool,
        permission: input.permission,
      },
      { decision: extra.decision, ruleIds: extra.ruleIds, details: extra.details },
    );
    try {
      await this.deps.audit.append(event);
    } catch (error) {
      this.deps.logger.error(
        { requestId: input.requestId, type, err: String(error) },
        'audit: could not record',
      );
      this.deps.notifier?.notify({
        type: 'audit.failure',
        message: `the audit trail could not record ${type}`,
        agent: input.principal.agent,
        tenant: input.principal.tenant,
        permission: input.permission,
      });
      throw new KeywardError(
        'audit_unavailable',
        `the audit trail could not record ${type} for ${input.permission}; nothing was granted, try again later`,
      );
    }
  }
}
