/**
 * Rule conditions (`when`) in CEL, compiled once at config load with @marcbachmann/cel-js:
 * zero dependencies, maintained, type-checks at parse time and evaluates a parsed expression
 * without re-parsing (the per-call cost is one closure call). Variables: `principal` {agent,
 * tenant, roles, attributes}, `args`, `tool`, `permission`. A condition must yield a bool.
 * `validatePolicy(config)` reports a bad rule with its JSON path for `keyward check`.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { KeywardConfig } from '../config/schema.js';
import type { ConfigIssue } from '../config/load.js';
import { ConfigError } from '../core/errors.js';
import type { ConditionCompiler, ConditionEvaluator, PolicyInput } from './policy-engine.js';
import { assertPolicy, policyIssues } from './policy-validation.js';

export { conditionReadsArgs } from './policy-validation.js';

const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 50 } })
  .registerVariable('principal', 'map')
  .registerVariable('args', 'map')
  .registerVariable('tool', 'string')
  .registerVariable('permission', 'string');

/** The CEL message's first line, without the caret diagram (keeps `keyward check` output short). */
function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? text).trim();
}

/** Parses and type-checks; throws a ConfigError naming `path` when the expression is bad. */
export const compileCelCondition: ConditionCompiler = (
  expression: string,
  path: string,
): ConditionEvaluator => {
  let program: ReturnType<typeof env.parse>;
  try {
    program = env.parse(expression);
  } catch (error) {
    throw new ConfigError(`invalid condition at ${path}`, [{ path, message: `CEL: ${firstLine(error)}` }]);
  }
  const checked = program.check();
  if (!checked.valid) {
    throw new ConfigError(`invalid condition at ${path}`, [
      { path, message: `CEL: ${firstLine(checked.error)}` },
    ]);
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConfigError(`invalid condition at ${path}`, [
      { path, message: `CEL: a condition must be a bool, this is ${checked.type}` },
    ]);
  }
  return (input: PolicyInput): boolean => {
    const result: unknown = program({
      principal: {
        agent: input.principal.agent,
        tenant: input.principal.tenant,
        roles: [...input.principal.roles],
        attributes: { ...input.principal.attributes },
      },
      args: input.args,
      tool: input.tool,
      permission: input.permission,
    });
    // A non-bool result is an evaluation error: the engine treats errors as "stricter".
    if (typeof result !== 'boolean') throw new TypeError('condition did not yield a bool');
    return result;
  };
};

/** Every problem in the policy (`when` compiled with CEL), with its path; empty when all is valid. */
export function validatePolicy(config: KeywardConfig): ConfigIssue[] {
  return policyIssues(config, compileCelCondition);
}

/** Throws a ConfigError listing every policy problem (for the composition root and CLI commands). */
export function assertValidPolicy(config: KeywardConfig, file = 'config'): void {
  assertPolicy(config, file, compileCelCondition);
}
