/**
 * Every audit event type keyward writes, in one union (issue 13): the pipeline's call records,
 * the capabilities layer's decisions and the operator's actions. An event of another type cannot
 * be built by the code that writes the trail (AuditEvent.type is this union); docs/audit.md lists
 * the same types.
 */
import type { AuditEvent } from './types.js';

export const AUDIT_EVENT_TYPES = [
  // One call through the pipeline (server/steps/audit-call.ts).
  'call.started',
  'call.completed',
  'call.rejected',
  // The capabilities layer (policy/): requests, decisions, grants.
  'capability.requested',
  'capability.granted',
  'capability.denied',
  'grant.used',
  'grant.expired',
  'grant.revoked',
  // Human approval (policy/human-approval.ts, policy/approval-desk.ts).
  'approval.requested',
  'approval.answered',
  // Per-user OAuth connections (src/connections/).
  'connection.requested',
  'connection.connected',
  'connection.refused',
  'connection.refresh_failed',
  'connection.revoked',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who and what an event is about: the principal's names, the request, the tool and permission. */
export interface AuditSubject {
  readonly requestId?: string | undefined;
  readonly sessionId?: string | undefined;
  readonly agent?: string | undefined;
  readonly tenant?: string | undefined;
  readonly user?: string | undefined;
  readonly tool?: string | undefined;
  readonly permission?: string | undefined;
}

type EventFields = Omit<AuditEvent, 'type' | 'time' | keyof AuditSubject>;

/**
 * The one constructor of audit events, shared by the pipeline, the capabilities layer and the
 * operator's desk: fields that are absent (or an empty tool name) are left out, so two layers never
 * write the same fact in two shapes.
 */
export function auditEvent(
  type: AuditEventType,
  timeMs: number,
  subject: AuditSubject,
  fields: { readonly [K in keyof EventFields]?: EventFields[K] | undefined } = {},
): AuditEvent {
  const event: Record<string, unknown> = { type, time: new Date(timeMs).toISOString() };
  for (const [key, value] of Object.entries({ ...subject, ...fields })) {
    if (value === undefined || (key === 'tool' && value === '')) continue;
    event[key] = value;
  }
  return event as unknown as AuditEvent;
}
