/**
 * The log scrubber's registry: every registered value is scrubbed from every line, and a new value
 * costs a bounded compilation, however many values came before it (an API answering 401 forces a
 * token refresh, so a new value, per call).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretRegistry } from '../../../src/observability/logger.js';
import { compileLogScrubber, REDACTED, type Redactor } from '../../../src/upstream/redaction.js';

const token = (): string => `tok_${randomBytes(18).toString('base64url')}`;

/** A registry whose compilations are counted, in values compiled. */
function counted(): { registry: SecretRegistry; compiled: () => number } {
  let compiled = 0;
  const registry = new SecretRegistry((values: readonly string[]): Redactor => {
    compiled += values.length;
    return compileLogScrubber(values);
  });
  return { registry, compiled: () => compiled };
}

describe('SecretRegistry', () => {
  it('a new value recompiles a bounded group, not every value registered before it', () => {
    const { registry, compiled } = counted();
    const tokens = Array.from({ length: 300 }, token);
    for (const t of tokens) {
      registry.add(t);
      // A log line after each new token, as a refresh per call writes one.
      expect(registry.scrub(`refreshed ${t}`)).toBe(`refreshed ${REDACTED}`);
    }
    // One scrubber over everything compiled 1 + 2 + … + 300 = 45,150 values; groups of 32 at
    // most 32 per new value.
    expect(compiled()).toBeLessThanOrEqual(300 * 32);
    expect(registry.size).toBe(300);
  });

  it('scrubs every registered value, whichever group holds it, in every encoding the scrubber knows', () => {
    const registry = new SecretRegistry();
    const tokens = Array.from({ length: 100 }, token);
    for (const t of tokens) registry.add(t);
    const line = tokens.map((t, i) => (i % 2 === 0 ? t : Buffer.from(t).toString('base64'))).join(' | ');
    const out = registry.scrub(line);
    for (const t of tokens) {
      expect(out).not.toContain(t);
      expect(out).not.toContain(t.slice(4, 4 + 8));
    }
  });

  it('a value deleted is no longer scrubbed; the others still are, and adding it again works', () => {
    const registry = new SecretRegistry();
    const [a, b, c] = [token(), token(), token()];
    for (const t of [a, b, c]) registry.add(t);
    registry.delete(b);
    expect(registry.scrub(`${a} ${b} ${c}`)).toBe(`${REDACTED} ${b} ${REDACTED}`);
    registry.add(b);
    expect(registry.scrub(`${a} ${b} ${c}`)).toBe(`${REDACTED} ${REDACTED} ${REDACTED}`);
    expect(registry.snapshot()).toHaveLength(3);
  });

  it('a value containing another group’s value is still removed, but for no run of LOG_MIN_RUN', () => {
    const registry = new SecretRegistry();
    const inner = token();
    registry.add(inner);
    for (let i = 0; i < 40; i++) registry.add(token());
    const outer = `prefix-${randomBytes(12).toString('hex')}${inner}${randomBytes(12).toString('hex')}`;
    registry.add(outer);
    const out = registry.scrub(`x ${outer} y`);
    expect(out).not.toContain(inner);
    // Every run of 8 characters of the outer value is gone.
    for (let i = 0; i + 8 <= outer.length; i++) expect(out).not.toContain(outer.slice(i, i + 8));
  });
});
