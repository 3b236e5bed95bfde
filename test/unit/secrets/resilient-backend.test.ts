// Tests of ResilientBackend: deadline, retries only on availability errors, breaker with retryAfter.
import { describe, expect, it } from 'vitest';
import { KeywardError, type ErrorCode } from '../../../src/core/errors.js';
import type { Secret, SecretRequest } from '../../../src/core/types.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { ResilientBackend, withResilience } from '../../../src/secrets/resilient-backend.js';
import type { GetOptions, SecretBackend } from '../../../src/secrets/secret-backend.js';

class ScriptedBackend implements SecretBackend {
  readonly kind = 'scripted';
  readonly storesOneString = true;
  readonly readPermissionHint = 'test';
  calls = 0;
  signals: (AbortSignal | undefined)[] = [];
  constructor(private readonly script: (call: number) => 'ok' | 'hang' | ErrorCode) {}
  async get(_request: SecretRequest, options?: GetOptions): Promise<Secret> {
    this.calls += 1;
    this.signals.push(options?.signal);
    const step = this.script(this.calls);
    if (step === 'hang') return new Promise<Secret>(() => undefined);
    if (step !== 'ok') throw new KeywardError(step, `scripted ${step}`);
    return { value: 'v', version: String(this.calls), keyId: 'scripted:x' };
  }
  async probe() {
    return { ok: true, message: 'ok' };
  }
  async close() {}
}

const fast = { initialDelayMs: 1, maxDelayMs: 2 };

async function codeOf(p: Promise<unknown>): Promise<KeywardError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof KeywardError) return error;
    throw error;
  }
  throw new Error('expected a KeywardError');
}

describe('ResilientBackend', () => {
  it('retries secret_backend_unavailable up to `retries` times', async () => {
    const inner = new ScriptedBackend((n) => (n < 3 ? 'secret_backend_unavailable' : 'ok'));
    const b = new ResilientBackend('b', inner, { retries: 2, timeoutMs: 1000, ...fast }, silentLogger());
    expect((await b.get({ ref: 'x' })).version).toBe('3');
    expect(inner.calls).toBe(3);

    const never = new ScriptedBackend(() => 'secret_backend_unavailable');
    const c = new ResilientBackend('c', never, { retries: 2, timeoutMs: 1000, ...fast }, silentLogger());
    expect((await codeOf(c.get({ ref: 'x' }))).code).toBe('secret_backend_unavailable');
    expect(never.calls).toBe(3);
  });

  it.each([
    'credential_not_found',
    'credential_revoked',
    'credential_invalid',
    'credential_expired',
  ] as const)('never retries %s', async (code) => {
    const inner = new ScriptedBackend(() => code);
    const b = new ResilientBackend('b', inner, { retries: 3, timeoutMs: 1000, ...fast }, silentLogger());
    expect((await codeOf(b.get({ ref: 'x' }))).code).toBe(code);
    expect(inner.calls).toBe(1);
  });

  it('fails a hung call with secret_backend_unavailable at the timeout and aborts its signal', async () => {
    const inner = new ScriptedBackend(() => 'hang');
    const b = new ResilientBackend('b', inner, { retries: 0, timeoutMs: 30 }, silentLogger());
    const error = await codeOf(b.get({ ref: 'x' }));
    expect(error.code).toBe('secret_backend_unavailable');
    expect(error.message).toBe('secret backend "b" timed out');
    expect(inner.signals[0]?.aborted).toBe(true);
  });

  it('opens the breaker after consecutive availability failures (not after not_found) and says when to retry', async () => {
    let mode: 'down' | 'missing' | 'up' = 'missing';
    const inner = new ScriptedBackend(() =>
      mode === 'down' ? 'secret_backend_unavailable' : mode === 'missing' ? 'credential_not_found' : 'ok',
    );
    const b = new ResilientBackend(
      'vault',
      inner,
      { retries: 0, timeoutMs: 1000, breakerThreshold: 3, halfOpenAfterMs: 100, ...fast },
      silentLogger(),
    );
    for (let i = 0; i < 5; i++) expect((await codeOf(b.get({ ref: 'x' }))).code).toBe('credential_not_found');
    mode = 'down';
    for (let i = 0; i < 3; i++) await codeOf(b.get({ ref: 'x' }));
    const callsWhenOpened = inner.calls;
    const open = await codeOf(b.get({ ref: 'x' }));
    expect(open.code).toBe('secret_backend_unavailable');
    expect(open.retryAfterSeconds).toBe(1);
    expect(inner.calls).toBe(callsWhenOpened);

    mode = 'up';
    await new Promise((r) => setTimeout(r, 120));
    expect((await b.get({ ref: 'x' })).value).toBe('v');
  });

  it('withResilience takes retries, timeout and staleSeconds from the backend config', async () => {
    const inner = new ScriptedBackend((n) => (n === 1 ? 'secret_backend_unavailable' : 'ok'));
    const b = withResilience(
      inner,
      { retries: 1, timeoutMs: 500, staleSeconds: 42 },
      { logger: silentLogger(), name: 'x' },
      fast,
    );
    expect(b.staleSeconds).toBe(42);
    expect(b.kind).toBe('scripted');
    expect((await b.get({ ref: 'x' })).version).toBe('2');
    expect(b.set).toBeUndefined();
  });
});
