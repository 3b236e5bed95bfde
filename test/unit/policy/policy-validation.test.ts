import { describe, expect, it } from 'vitest';
import type { KeywardConfig } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/core/errors.js';
import { compileCelCondition, validatePolicy } from '../../../src/policy/cel-condition.js';
import {
  assertPolicy,
  loadConditionCompiler,
  policyHasConditions,
  policyIssues,
} from '../../../src/policy/policy-validation.js';

const withRules = (rules: object[]): KeywardConfig =>
  ({ policy: { rules: rules.map((r) => ({ grantTtlSeconds: 60, ...r })) } }) as unknown as KeywardConfig;

describe('policy validation and the lazily loaded CEL engine', () => {
  it('loads the CEL compiler only when some rule has a condition', async () => {
    const plain = withRules([{ effect: 'allow', permissions: ['a:*'] }]);
    expect(policyHasConditions(plain)).toBe(false);
    expect(await loadConditionCompiler(plain)).toBeUndefined();
    const conditional = withRules([{ effect: 'allow', permissions: ['a:*'], when: 'tool == "x"' }]);
    expect(policyHasConditions(conditional)).toBe(true);
    expect(await loadConditionCompiler(conditional)).toBe(compileCelCondition);
  });

  it('still refuses a bad condition, and a condition without a compiler', async () => {
    const bad = withRules([{ effect: 'allow', permissions: ['a:*'], when: 'tool ==' }]);
    const compile = await loadConditionCompiler(bad);
    expect(() => assertPolicy(bad, 'cfg', compile)).toThrow(ConfigError);
    expect(policyIssues(bad, compile)).toEqual(validatePolicy(bad));
    expect(policyIssues(bad, undefined)).toEqual([
      { path: 'policy.rules[0].when', message: 'conditions are not supported here' },
    ]);
  });

  it('reports the grant TTL problems without the CEL engine as with it', () => {
    const ttl = withRules([
      { effect: 'approve', permissions: ['a:*'], grantTtlSeconds: 120, maxGrantTtlSeconds: 60 },
    ]);
    expect(policyIssues(ttl, undefined)).toEqual(validatePolicy(ttl));
    expect(policyIssues(ttl, undefined)).toHaveLength(1);
  });

  it('refuses maxGrantTtlSeconds on a rule that creates no grants, with or without a condition', () => {
    const plain = withRules([{ effect: 'allow', permissions: ['a:*'], maxGrantTtlSeconds: 600 }]);
    const conditional = withRules([
      { effect: 'deny', permissions: ['a:*'], when: 'tool == "x"', maxGrantTtlSeconds: 600 },
    ]);
    for (const config of [plain, conditional]) {
      expect(validatePolicy(config)).toEqual([
        { path: 'policy.rules[0].maxGrantTtlSeconds', message: 'only approve rules create grants' },
      ]);
    }
  });
});
