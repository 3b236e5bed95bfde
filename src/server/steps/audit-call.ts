/**
 * Steps around the audit trail.
 * - `auditRejectionsStep` (outermost) records calls refused before they started (invalid arguments,
 *   denials, approvals, rate limits): best effort, since nothing was sent upstream.
 * - `auditCallStep` records call.started before anything touches a secret or the upstream (fail
 *   closed: no record, no call) and exactly one call.completed afterwards.
 */
import type { AuditSink } from '../../audit/audit-sink.js';
import type { CompletionSpool } from '../../audit/completion-spool.js';
import { KeywardError, isKeywardError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Step } from '../../core/pipeline.js';
import type { AuditEvent, CallSuccess } from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import { failSpan, startChild } from '../../observability/tracing.js';
import type { CallContext } from '../call-context.js';
import type { AuditEventType } from '../../core/audit-events.js';

/** Mutable while it is built (plain assignments: cheaper than spreading optional parts). */
type EventDraft = { -readonly [K in keyof AuditEvent]: AuditEvent[K] };

function baseEvent(ctx: CallContext, type: AuditEventType, clock: Clock): EventDraft {
  const event: EventDraft = { type, time: new Date(clock.now()).toISOString(), requestId: ctx.requestId };
  if (ctx.sessionId !== undefined) event.sessionId = ctx.sessionId;
  event.agent = ctx.principal.agent;
  event.tenant = ctx.principal.tenant;
  if (ctx.principal.user !== undefined) event.user = ctx.principal.user;
  event.tool = ctx.tool.name;
  event.permission = ctx.tool.permission;
  if (ctx.authorization !== undefined) {
    event.decision = ctx.authorization.via;
    event.ruleIds = ctx.authorization.ruleIds;
  }
  return event;
}

export function errorCodeOf(error: unknown): string {
  return isKeywardError(error) ? error.code : 'internal_error';
}

/** What a refusal adds to its call.rejected event: the pipeline's and the meta-tools' (gateway.ts). */
export function rejectionFields(
  error: unknown,
  latencyMs: number,
): Pick<AuditEvent, 'decision' | 'errorCode' | 'outcome' | 'latencyMs'> {
  const code = errorCodeOf(error);
  return {
    decision: code === 'invalid_arguments' ? 'invalid' : 'deny',
    errorCode: code,
    outcome: 'rejected',
    latencyMs,
  };
}

export function auditRejectionsStep(
  audit: AuditSink,
  clock: Clock,
  logger: Logger,
): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    try {
      return await next();
    } catch (error) {
      if (!ctx.started) {
        const event: AuditEvent = {
          ...baseEvent(ctx, 'call.rejected', clock),
          ...rejectionFields(error, clock.now() - ctx.startedAt),
        };
        const span = ctx.trace && startChild(ctx.trace, 'audit.rejected');
        await audit.append(event).catch((auditError: unknown) => {
          if (span !== undefined) failSpan(span, auditError, 'audit_unavailable');
          logger.error(
            { requestId: ctx.requestId, err: String(auditError) },
            'audit: could not record a rejection',
          );
        });
        span?.end();
      }
      throw error;
    }
  };
}

function completionDetails(refetched: boolean, fallback: string | undefined): Pick<AuditEvent, 'details'> {
  if (!refetched && fallback === undefined) return {};
  return {
    details: {
      ...(refetched ? { credentialRefetched: true } : {}),
      ...(fallback === undefined ? {} : { fallback }),
    },
  };
}

export function auditCallStep(
  audit: AuditSink,
  clock: Clock,
  logger: Logger,
  spool?: CompletionSpool,
): Step<CallContext, CallSuccess> {
  return async (ctx, next) => {
    const startSpan = ctx.trace && startChild(ctx.trace, 'audit.start');
    try {
      const started = baseEvent(ctx, 'call.started', clock);
      started.origin = ctx.tool.origin;
      await audit.append(started);
      startSpan?.end();
    } catch (error) {
      if (startSpan !== undefined) {
        failSpan(startSpan, error, 'audit_unavailable');
        startSpan.end();
      }
      logger.error(
        { requestId: ctx.requestId, err: String(error) },
        'audit: cannot record call.started; refusing',
      );
      throw new KeywardError(
        'audit_unavailable',
        'the audit trail cannot record this call, so it was not made',
        {
          retryAfterSeconds: 5,
        },
      );
    }
    ctx.started = true;
    if (spool?.hasPending) {
      spool
        .replay(audit)
        .catch((error: unknown) => logger.warn({ err: String(error) }, 'audit spool: replay failed'));
    }
    let outcome: CallSuccess | undefined;
    let failure: unknown;
    try {
      outcome = await next();
      return outcome;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      const event = baseEvent(ctx, 'call.completed', clock);
      event.origin = ctx.tool.origin;
      event.outcome = failure === undefined ? 'ok' : 'error';
      event.latencyMs = clock.now() - ctx.startedAt;
      if (failure !== undefined) event.errorCode = errorCodeOf(failure);
      const credential = ctx.credential;
      if (credential.upstreamStatus !== undefined) event.status = credential.upstreamStatus;
      if (credential.secret !== undefined) {
        event.keyId = credential.secret.keyId;
        event.keyVersion = credential.secret.version;
      }
      const { details } = completionDetails(credential.refetched, outcome?.fallback);
      if (details !== undefined) event.details = details;
      // The upstream has already acted: the result is returned, and a completion record that cannot
      // be written now goes to the spool and is replayed into the trail when the sink recovers.
      const endSpan = ctx.trace && startChild(ctx.trace, 'audit.end', { 'keyward.outcome': event.outcome });
      await audit.append(event).catch((error: unknown) => {
        if (endSpan !== undefined) failSpan(endSpan, error, 'audit_unavailable');
        if (spool === undefined) {
          logger.error(
            { requestId: ctx.requestId, err: String(error) },
            'audit: could not record call.completed',
          );
          return;
        }
        try {
          spool.append(event);
          logger.warn({ requestId: ctx.requestId, err: String(error) }, 'audit: call.completed spooled');
        } catch (spoolError) {
          logger.error(
            { requestId: ctx.requestId, err: String(error), spoolErr: String(spoolError) },
            'audit: call.completed could not be recorded or spooled',
          );
        }
      });
      endSpan?.end();
    }
  };
}
