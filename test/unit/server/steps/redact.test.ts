/**
 * steps/redact.ts: every value the credential session injected is removed from the body, the
 * passed-through headers and error messages; a call that injected nothing passes through untouched.
 */
import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../../../src/core/errors.js';
import { SecretRegistry } from '../../../../src/observability/logger.js';
import { redactStep } from '../../../../src/server/steps/redact.js';
import { context, okResult } from './context.js';

const SECRET = 'sk-live-0123456789abcdef';

describe('redact step', () => {
  it('removes an injected value from body (text and JSON) and headers; the logger learns it', async () => {
    const secrets = new SecretRegistry();
    const ctx = context();
    ctx.args = { id: '7' };
    const result = await redactStep(secrets)(ctx, () => {
      ctx.credential.injected.push({ value: SECRET, partials: true });
      return Promise.resolve({
        status: 200,
        contentType: 'application/json',
        headers: { 'x-echo': `Bearer ${SECRET}` },
        body: JSON.stringify({ echoed: SECRET, n: 1 }),
      });
    });
    expect(result.body).not.toContain(SECRET);
    expect(result.headers['x-echo']).not.toContain(SECRET);
    expect(result.json?.value).toMatchObject({ n: 1 });
    expect(JSON.stringify(result.json?.value)).not.toContain(SECRET);
    expect(secrets.snapshot()).toContain(SECRET);
  });

  it('error messages are redacted and keep their code and retryAfterSeconds', async () => {
    const ctx = context();
    ctx.args = { id: '7' };
    await expect(
      redactStep(new SecretRegistry())(ctx, () => {
        ctx.credential.injected.push({ value: SECRET, partials: true });
        return Promise.reject(
          new KeywardError('rate_limited', `slow down ${SECRET}`, { retryAfterSeconds: 3 }),
        );
      }),
    ).rejects.toSatisfy(
      (error) =>
        error instanceof KeywardError &&
        error.code === 'rate_limited' &&
        error.retryAfterSeconds === 3 &&
        !error.message.includes(SECRET),
    );
  });

  it('nothing injected: the result is returned as is', async () => {
    const ctx = context('backup', {});
    const result = await redactStep(new SecretRegistry())(ctx, () => Promise.resolve(okResult));
    expect(result).toBe(okResult);
  });
});
