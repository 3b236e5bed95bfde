/**
 * steps/redact.ts: every value the credential session injected is removed from the body, the
 * passed-through headers and error messages; a call that injected nothing passes through untouched.
 */
import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../../../src/core/errors.js';
import { SecretRegistry } from '../../../../src/observability/logger.js';
import { redactStep } from '../../../../src/server/steps/redact.js';
import { successResult } from '../../../../src/server/tool-result.js';
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

  it.each([
    ['beside escapes', `{"note": "line\\nnext \\"q\\"", "key": "${SECRET}"}`],
    ['spelled with escapes', `{"key": "sk-live-\\u0030123456789abcdef\\/"}`],
    ['without escapes, pretty-printed', `{\n  "key": "${SECRET}"\n}`],
  ])(
    'a secret in a JSON string %s is gone from the content text and the structured body on the wire',
    async (_name, body) => {
      const ctx = context();
      ctx.args = { id: '7' };
      const result = await redactStep(new SecretRegistry())(ctx, () => {
        ctx.credential.injected.push({ value: SECRET, partials: true });
        return Promise.resolve({ status: 200, contentType: 'application/json', headers: {}, body });
      });
      const wire = JSON.stringify({ jsonrpc: '2.0', id: 1, result: successResult(result) });
      const received = JSON.parse(wire) as {
        result: { content: [{ text: string }]; structuredContent: { body: unknown } };
      };
      expect(typeof received.result.structuredContent.body).toBe('object');
      for (const seen of [
        wire,
        received.result.content[0].text,
        JSON.stringify(received.result.structuredContent.body),
      ])
        expect(seen).not.toContain(SECRET);
    },
  );
});
