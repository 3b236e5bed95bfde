/**
 * The policy's checks that need no CEL engine, and the one place that decides whether the CEL
 * engine is loaded at all: `@marcbachmann/cel-js` (cel-condition.ts) is imported only when some
 * rule has a `when` condition, so a policy without conditions starts without it (issue 18, cold
 * start). With conditions, every one is still compiled and type-checked before serving.
 */
import type { KeywardConfig } from '../config/schema.js';
import type { ConfigIssue } from '../config/load.js';
import { ConfigError } from '../core/errors.js';
import type { ConditionCompiler } from './policy-engine.js';

/** Whether an expression reads the call's arguments (so a decision without arguments is provisional). */
export function conditionReadsArgs(expression: string): boolean {
  return /\bargs\b/.test(expression);
}

/** Whether any rule has a `when` condition (which needs the CEL engine). */
export function policyHasConditions(config: KeywardConfig): boolean {
  return config.policy.rules.some((rule) => rule.when !== undefined);
}

/** The CEL condition compiler when the policy has conditions (loading the engine), else undefined. */
export async function loadConditionCompiler(config: KeywardConfig): Promise<ConditionCompiler | undefined> {
  if (!policyHasConditions(config)) return undefined;
  return (await import('./cel-condition.js')).compileCelCondition;
}

/**
 * Every problem in the policy, with its path; empty when all is valid. `compile` checks each
 * `when`; without one, a `when` is itself a problem (it cannot be enforced).
 */
export function policyIssues(config: KeywardConfig, compile: ConditionCompiler | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  config.policy.rules.forEach((rule, index) => {
    if (rule.when === undefined) return;
    const path = `policy.rules[${index}].when`;
    if (compile === undefined) issues.push({ path, message: 'conditions are not supported here' });
    else {
      try {
        compile(rule.when, path);
      } catch (error) {
        if (error instanceof ConfigError) issues.push(...error.issues);
        else issues.push({ path, message: firstLine(error) });
      }
    }
  });
  config.policy.rules.forEach((rule, index) => {
    if (rule.effect !== 'approve' && rule.maxGrantTtlSeconds !== undefined) {
      issues.push({
        path: `policy.rules[${index}].maxGrantTtlSeconds`,
        message: 'only approve rules create grants',
      });
    }
    if (rule.maxGrantTtlSeconds !== undefined && rule.grantTtlSeconds > rule.maxGrantTtlSeconds) {
      issues.push({
        path: `policy.rules[${index}].grantTtlSeconds`,
        message: `greater than maxGrantTtlSeconds (${rule.maxGrantTtlSeconds})`,
      });
    }
  });
  return issues;
}

/** Throws a ConfigError listing every policy problem. */
export function assertPolicy(
  config: KeywardConfig,
  file: string,
  compile: ConditionCompiler | undefined,
): void {
  const issues = policyIssues(config, compile);
  if (issues.length > 0) throw new ConfigError(`invalid policy in ${file}`, issues);
}

/** An error's first line, without a caret diagram. */
function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? text).trim();
}
