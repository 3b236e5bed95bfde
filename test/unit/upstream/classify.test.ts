// Response classification: status → verdict, Retry-After parsing, messages with the status and never the body.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import {
  classifyResponse,
  credentialRejectedError,
  MAX_RETRY_AFTER_SECONDS,
  parseRetryAfter,
} from '../../../src/upstream/classify.js';

const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
const ctx = { tool: 'get_repo', clock };

function classify(status: number, headers: Record<string, string> = {}) {
  return classifyResponse(
    { status, headers, body: Buffer.from('{"error":"cnry_body_secret_1234"}') } as never,
    ctx,
  );
}

function errorOf(status: number, headers: Record<string, string> = {}) {
  const verdict = classify(status, headers);
  if (verdict.kind !== 'error') throw new Error(`expected error for ${status}, got ${verdict.kind}`);
  expect(verdict.error.message).toContain(String(status));
  expect(verdict.error.message).not.toContain('cnry_body_secret');
  return verdict.error;
}

describe('classifyResponse', () => {
  it('2xx is ok', () => {
    for (const status of [200, 201, 204, 299]) expect(classify(status)).toEqual({ kind: 'ok' });
  });

  it('401 and 403 are auth-rejected', () => {
    expect(classify(401)).toEqual({ kind: 'auth-rejected', status: 401 });
    expect(classify(403)).toEqual({ kind: 'auth-rejected', status: 403 });
    const error = credentialRejectedError(403);
    expect(error.code).toBe('credential_invalid');
    expect(error.message).toBe('upstream rejected the credential (403)');
  });

  it('429 is rate_limited with Retry-After', () => {
    const error = errorOf(429, { 'retry-after': '12' });
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterSeconds).toBe(12);
    expect(errorOf(429).retryAfterSeconds).toBe(1);
  });

  it('408 and 504 are upstream_timeout', () => {
    expect(errorOf(408).code).toBe('upstream_timeout');
    expect(errorOf(504).code).toBe('upstream_timeout');
  });

  it('other 5xx are upstream_error; Retry-After is honoured on 503 only', () => {
    expect(errorOf(500).code).toBe('upstream_error');
    expect(errorOf(502).retryAfterSeconds).toBeUndefined();
    expect(errorOf(503, { 'retry-after': '30' })).toMatchObject({
      code: 'upstream_error',
      retryAfterSeconds: 30,
    });
    expect(errorOf(500, { 'retry-after': '30' }).retryAfterSeconds).toBeUndefined();
    expect(errorOf(503).retryAfterSeconds).toBeUndefined();
  });

  it('3xx is upstream_rejected: redirect not followed', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const error = errorOf(status);
      expect(error.code).toBe('upstream_rejected');
      expect(error.message).toContain('redirect not followed');
    }
  });

  it('other 4xx are upstream_rejected with the status', () => {
    for (const status of [400, 404, 409, 422]) expect(errorOf(status).code).toBe('upstream_rejected');
  });

  it('odd statuses are upstream_error', () => {
    expect(errorOf(600).code).toBe('upstream_error');
    expect(errorOf(101).code).toBe('upstream_error');
  });
});

describe('parseRetryAfter', () => {
  const now = clock.now();
  it('delta-seconds, clamped to [1, 3600]', () => {
    expect(parseRetryAfter('0', now)).toBe(1);
    expect(parseRetryAfter(' 45 ', now)).toBe(45);
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(MAX_RETRY_AFTER_SECONDS);
  });

  it('HTTP-date relative to now', () => {
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90);
    expect(parseRetryAfter(new Date(now - 90_000).toUTCString(), now)).toBe(1);
    expect(parseRetryAfter(new Date(now + 86_400_000).toUTCString(), now)).toBe(3600);
  });

  it('absent or garbled → 1', () => {
    for (const value of [undefined, '', 'soon', '-5', '1.5', '12abc'])
      expect(parseRetryAfter(value, now)).toBe(1);
  });

  it('uses the context clock in classifyResponse', () => {
    const error = errorOf(429, { 'retry-after': new Date(now + 7_000).toUTCString() });
    expect(error.retryAfterSeconds).toBe(7);
  });
});
