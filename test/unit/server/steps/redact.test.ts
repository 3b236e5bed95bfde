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
      const wire = JSON.stringify({ jsonrpc: '2.0', id: 1, result: successResult(result, 65_536) });
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

  it.each([
    ['without escapes', (pad: string) => `{"pad": "${pad}", "key": "${SECRET}"}`],
    ['beside escapes', (pad: string) => `{"pad": "${pad}\\n", "key": "${SECRET}"}`],
    ['spelled with escapes', (pad: string) => `{"pad": "${pad}", "key": "sk-live-\\u0030123456789abcdef"}`],
  ])(
    'a body over structuredBodyMaxBytes (%s) comes back once, as redacted text, and says so',
    async (_name, makeBody) => {
      const ctx = context();
      const max = ctx.tool.config.structuredBodyMaxBytes;
      const body = makeBody('x'.repeat(max));
      const result = await redactStep(new SecretRegistry())(ctx, () => {
        ctx.credential.injected.push({ value: SECRET, partials: true });
        return Promise.resolve({ status: 200, contentType: 'application/json', headers: {}, body });
      });
      const answer = successResult(result, max);
      expect(answer.structuredContent).toEqual({ status: 200, headers: {}, bodyInText: true });
      const text = (answer.content[0] as { text: string }).text;
      expect(text.length).toBeGreaterThan(max);
      expect(JSON.stringify(answer)).not.toContain(SECRET);
      expect(JSON.stringify(JSON.parse(text))).not.toContain(SECRET);
    },
  );

  it('keeps the structured body up to structuredBodyMaxBytes, counted in UTF-8 bytes', () => {
    const success = { status: 200, contentType: 'application/json', headers: {} };
    const ascii = `"${'a'.repeat(98)}"`;
    const wide = `"${'é'.repeat(50)}"`; // 52 characters, 102 bytes
    expect(successResult({ ...success, body: ascii }, 100).structuredContent).toEqual({
      status: 200,
      headers: {},
      body: 'a'.repeat(98),
    });
    expect(successResult({ ...success, body: wide }, 100).structuredContent).toMatchObject({
      bodyInText: true,
    });
    expect(successResult({ ...success, body: wide }, 102).structuredContent).toMatchObject({
      body: 'é'.repeat(50),
    });
  });
});
