/** The benchmark-only step switches: off by default, only known step names, read from the env. */
import { describe, expect, it } from 'vitest';
import { benchDisabledSteps } from '../../../src/server/call-pipeline.js';

describe('benchDisabledSteps', () => {
  it('disables nothing when the variable is unset or empty', () => {
    expect(benchDisabledSteps({}).size).toBe(0);
    expect(benchDisabledSteps({ KEYWARD_BENCH_DISABLE: '' }).size).toBe(0);
  });

  it('keeps only known step names', () => {
    const off = benchDisabledSteps({ KEYWARD_BENCH_DISABLE: 'redact, audit,bogus,credential-cache' });
    expect([...off].sort()).toEqual(['audit', 'credential-cache', 'redact']);
  });
});
