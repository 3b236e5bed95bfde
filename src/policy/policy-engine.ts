/**
 * The rule engine: deny by default; any matching deny wins; then approve; then allow.
 * Rules are compiled once at load. A decision carries the ids of the rules that decided it.
 */
import type { RuleConfig } from '../config/schema.js';
import { compileRuleTarget, type CompiledRuleTarget, type MatchInput } from './rule-matcher.js';

export type Effect = 'allow' | 'deny' | 'approve';

export interface PolicyInput extends MatchInput {
  readonly args: Readonly<Record<string, unknown>>;
}

export interface PolicyDecision {
  readonly effect: Effect;
  /** The deciding rules: every matching deny, or every matching approve, or every matching allow. */
  readonly ruleIds: readonly string[];
  /** The deciding rules themselves (empty on default deny). */
  readonly rules: readonly RuleConfig[];
  /** 'default' when no rule matched. */
  readonly reason: 'rule' | 'default';
}

/** Evaluates a rule's `when` condition; absent conditions are always true. */
export type ConditionEvaluator = (input: PolicyInput) => boolean;

export interface CompiledRule extends CompiledRuleTarget {
  readonly condition: ConditionEvaluator | undefined;
  /** True when the condition reads `args` (so it cannot be judged before a call). */
  readonly readsArgs: boolean;
}

export interface DecideOptions {
  /**
   * The arguments are not known yet (request_capability): conditions that read `args` are assumed
   * to hold for allow/approve rules and to not hold for deny rules. Only for asking; every call
   * is still decided with its real arguments, so this can never widen what a call may do.
   */
  readonly argsUnknown?: boolean;
}

export type ConditionCompiler = (expression: string, path: string) => ConditionEvaluator;

export class PolicyEngine {
  readonly rules: readonly CompiledRule[];

  constructor(rules: readonly RuleConfig[], compileCondition?: ConditionCompiler) {
    this.rules = rules.map((rule, index) => {
      const target = compileRuleTarget(rule);
      let condition: ConditionEvaluator | undefined;
      if (rule.when !== undefined) {
        if (!compileCondition)
          throw new Error(`policy.rules[${index}].when: conditions are not supported here`);
        condition = compileCondition(rule.when, `policy.rules[${index}].when`);
      }
      return { ...target, condition, readsArgs: rule.when !== undefined && /\bargs\b/.test(rule.when) };
    });
  }

  decide(input: PolicyInput, options: DecideOptions = {}): PolicyDecision {
    const deny: CompiledRule[] = [];
    const approve: CompiledRule[] = [];
    const allow: CompiledRule[] = [];
    /** Approve rules whose condition could not be evaluated for this call. */
    const approveUnknown: CompiledRule[] = [];
    for (const rule of this.rules) {
      if (!rule.matchesTarget(input)) continue;
      const holds = conditionHolds(rule, input, options);
      if (holds === 'error' && rule.config.effect === 'approve') approveUnknown.push(rule);
      if (holds !== true) continue;
      if (rule.config.effect === 'deny') deny.push(rule);
      else if (rule.config.effect === 'approve') approve.push(rule);
      else allow.push(rule);
    }
    // Errors only make decisions stricter. An approve rule that errors cannot let a call through
    // on its own (no match: default deny), but when another rule would, it still applies: leaving
    // out the argument its condition reads must not turn "approve" into "allow" or into a laxer
    // approval channel.
    if (deny.length === 0 && (approve.length > 0 || allow.length > 0)) approve.push(...approveUnknown);
    const deciding = deny.length > 0 ? deny : approve.length > 0 ? approve : allow;
    if (deciding.length === 0) return { effect: 'deny', ruleIds: [], rules: [], reason: 'default' };
    const effect: Effect = deny.length > 0 ? 'deny' : approve.length > 0 ? 'approve' : 'allow';
    return {
      effect,
      ruleIds: deciding.map((r) => r.id),
      rules: deciding.map((r) => r.config),
      reason: 'rule',
    };
  }

  /**
   * Whether some rule could ever let this principal use the permission (allow or approve, ignoring
   * conditions, which depend on arguments), with no unconditional deny. Used to hide tools.
   */
  canEverUse(input: MatchInput): boolean {
    let possible = false;
    for (const rule of this.rules) {
      if (!rule.matchesTarget(input)) continue;
      if (rule.config.effect === 'deny' && rule.condition === undefined) return false;
      if (rule.config.effect !== 'deny') possible = true;
    }
    return possible;
  }
}

function conditionHolds(rule: CompiledRule, input: PolicyInput, options: DecideOptions): boolean | 'error' {
  if (rule.condition === undefined) return true;
  if (options.argsUnknown === true && rule.readsArgs) return rule.config.effect !== 'deny';
  // A condition that throws (missing field, wrong type) counts as matching for deny rules and
  // as not matching for allow rules; an approve rule's error is decided in decide(). Errors can
  // only make a decision stricter.
  try {
    return rule.condition(input);
  } catch {
    return rule.config.effect === 'deny' ? true : 'error';
  }
}
