/**
 * steps/audit-call.ts: call.rejected for calls refused before they started (best effort);
 * call.started before any secret is touched (fail closed) and exactly one call.completed with the
 * credential session's record (status, key id + version, re-fetch).
 */
import { describe, expect, it } from 'vitest';
import type { AuditSink } from '../../../../src/audit/audit-sink.js';
import { KeywardError } from '../../../../src/core/errors.js';
import type { AuditEvent } from '../../../../src/core/types.js';
import { silentLogger } from '../../../../src/observability/logger.js';
import { auditCallStep, auditRejectionsStep } from '../../../../src/server/steps/audit-call.js';
import { context, okResult } from './context.js';

const clock = { now: () => 1_000 };

function sink(failOn: (event: AuditEvent) => boolean = () => false): {
  audit: AuditSink;
  events: AuditEvent[];
} {
  const events: AuditEvent[] = [];
  const audit = {
    kind: 'fake',
    append: (event: AuditEvent) => {
      if (failOn(event)) return Promise.reject(new Error('disk full'));
      events.push(event);
      return Promise.resolve();
    },
  } as Pick<AuditSink, 'kind' | 'append'> as AuditSink;
  return { audit, events };
}

describe('audit call step', () => {
  it('call.started before next, then one call.completed with the credential record', async () => {
    const { audit, events } = sink();
    const ctx = context();
    ctx.authorization = { ruleIds: ['all'], via: 'allow' };
    const result = await auditCallStep(
      audit,
      clock,
      silentLogger(),
    )(ctx, () => {
      expect(events.map((e) => e.type)).toEqual(['call.started']);
      expect(ctx.started).toBe(true);
      ctx.credential.secret = { value: 'SECRET', version: 'v2', keyId: 'file:api' };
      ctx.credential.upstreamStatus = 200;
      ctx.credential.refetched = true;
      return Promise.resolve(okResult);
    });
    expect(result).toBe(okResult);
    expect(events.map((e) => e.type)).toEqual(['call.started', 'call.completed']);
    expect(events[1]).toMatchObject({
      outcome: 'ok',
      status: 200,
      keyId: 'file:api',
      keyVersion: 'v2',
      decision: 'allow',
      details: { credentialRefetched: true },
    });
    expect(JSON.stringify(events)).not.toContain('SECRET');
  });

  it('names the user the agent acted for in every record, from the principal', async () => {
    const { audit, events } = sink();
    const ctx = { ...context(), principal: { ...context().principal, user: 'gina' } };
    await auditCallStep(audit, clock, silentLogger())(ctx, () => Promise.resolve(okResult));
    const refused = { ...context(), principal: { ...context().principal, user: 'hal' } };
    await expect(
      auditRejectionsStep(
        audit,
        clock,
        silentLogger(),
      )(refused, () => Promise.reject(new KeywardError('permission_denied', 'no'))),
    ).rejects.toMatchObject({ code: 'permission_denied' });
    expect(events.map((e) => [e.type, e.user])).toEqual([
      ['call.started', 'gina'],
      ['call.completed', 'gina'],
      ['call.rejected', 'hal'],
    ]);
    // A principal that names no person: no user field at all.
    await auditCallStep(audit, clock, silentLogger())(context(), () => Promise.resolve(okResult));
    expect(events.slice(3).every((e) => !('user' in e))).toBe(true);
  });

  it('fails closed: no call.started, audit_unavailable, next never runs', async () => {
    const { audit } = sink((e) => e.type === 'call.started');
    const ctx = context();
    let reached = false;
    await expect(
      auditCallStep(
        audit,
        clock,
        silentLogger(),
      )(ctx, () => {
        reached = true;
        return Promise.resolve(okResult);
      }),
    ).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(reached).toBe(false);
    expect(ctx.started).toBe(false);
  });

  it('a failed call is completed with its error code', async () => {
    const { audit, events } = sink();
    await expect(
      auditCallStep(
        audit,
        clock,
        silentLogger(),
      )(context(), () => Promise.reject(new KeywardError('credential_invalid', 'rejected'))),
    ).rejects.toMatchObject({ code: 'credential_invalid' });
    expect(events[1]).toMatchObject({
      type: 'call.completed',
      outcome: 'error',
      errorCode: 'credential_invalid',
    });
  });
});

describe('audit rejections step', () => {
  it('records call.rejected for a call that never started, and rethrows', async () => {
    const { audit, events } = sink();
    await expect(
      auditRejectionsStep(
        audit,
        clock,
        silentLogger(),
      )(context(), () => Promise.reject(new KeywardError('invalid_arguments', 'bad'))),
    ).rejects.toMatchObject({ code: 'invalid_arguments' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'call.rejected',
      decision: 'invalid',
      errorCode: 'invalid_arguments',
    });
  });

  it('records nothing for a started call or a success; a failing sink does not change the error', async () => {
    const { audit, events } = sink();
    const ctx = context();
    ctx.started = true;
    await expect(
      auditRejectionsStep(
        audit,
        clock,
        silentLogger(),
      )(ctx, () => Promise.reject(new KeywardError('upstream_error', 'x'))),
    ).rejects.toMatchObject({ code: 'upstream_error' });
    await auditRejectionsStep(audit, clock, silentLogger())(context(), () => Promise.resolve(okResult));
    expect(events).toHaveLength(0);
    const broken = sink(() => true).audit;
    await expect(
      auditRejectionsStep(
        broken,
        clock,
        silentLogger(),
      )(context(), () => Promise.reject(new KeywardError('permission_denied', 'no'))),
    ).rejects.toMatchObject({ code: 'permission_denied' });
  });
});
