/**
 * Compiles policy rules (config `policy.rules`) into matchers once at load: agent, role, tenant,
 * tool and permission lists, with `*` wildcards (`github:*`). Conditions (`when`) are compiled by
 * the condition module; a rule matches only when every listed dimension and its condition match.
 */
import type { Principal } from '../core/types.js';
import type { RuleConfig } from '../config/schema.js';

export type Matcher = (value: string) => boolean;

export function compilePattern(pattern: string): Matcher {
  if (pattern === '*') return () => true;
  if (!pattern.includes('*')) return (value) => value === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (value) => re.test(value);
}

/** A list of patterns; an absent list matches everything. */
export function compileList(patterns: readonly string[] | undefined): Matcher {
  if (patterns === undefined) return () => true;
  const matchers = patterns.map(compilePattern);
  return (value) => matchers.some((m) => m(value));
}

export interface MatchInput {
  readonly principal: Principal;
  readonly tool: string;
  readonly permission: string;
}

export interface CompiledRuleTarget {
  readonly id: string;
  readonly config: RuleConfig;
  /** True when the principal/tool/permission dimensions match (conditions excluded). */
  matchesTarget(input: MatchInput): boolean;
}

export function compileRuleTarget(rule: RuleConfig): CompiledRuleTarget {
  const agent = compileList(rule.agents);
  const role = rule.roles === undefined ? undefined : compileList(rule.roles);
  const tenant = compileList(rule.tenants);
  const tool = compileList(rule.tools);
  const permission = compileList(rule.permissions);
  return {
    id: rule.id,
    config: rule,
    matchesTarget: (input) =>
      agent(input.principal.agent) &&
      tenant(input.principal.tenant) &&
      tool(input.tool) &&
      permission(input.permission) &&
      (role === undefined || input.principal.roles.some(role)),
  };
}
