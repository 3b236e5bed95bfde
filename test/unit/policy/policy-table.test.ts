/** The policy table: allow, deny-wins, approve, CEL conditions, wildcards, default deny; order never turns deny into allow. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ruleSchema, type RuleConfig } from '../../../src/config/schema.js';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/errors.js';
import type { Principal } from '../../../src/core/types.js';
import { compileCelCondition, validatePolicy } from '../../../src/policy/cel-condition.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

function rule(input: Record<string, unknown>): RuleConfig {
  return ruleSchema.parse(input);
}

function principal(over: Partial<Principal> = {}): Principal {
  return {
    agent: 'bot',
    tenant: 'acme',
    roles: ['dev'],
    attributes: { level: 3 },
    authMethod: 'stdio',
    ...over,
  };
}

const engine = new PolicyEngine(
  [
    rule({ id: 'read-all', effect: 'allow', permissions: ['github:read'] }),
    rule({ id: 'gh-any-owner', effect: 'allow', roles: ['owner'], permissions: ['github:*'] }),
    rule({ id: 'no-admin', effect: 'deny', permissions: ['github:admin'] }),
    rule({
      id: 'write-own',
      effect: 'approve',
      permissions: ['github:write'],
      when: 'args.owner == principal.tenant',
    }),
    rule({ id: 'small-pay', effect: 'allow', permissions: ['pay:send'], when: 'args.amount <= 100' }),
    rule({ id: 'big-pay', effect: 'approve', permissions: ['pay:send'], when: 'args.amount > 100' }),
    rule({
      id: 'senior',
      effect: 'allow',
      permissions: ['hr:read'],
      when: 'principal.attributes.level >= 5',
    }),
    rule({
      id: 'tenant-only',
      effect: 'allow',
      tenants: ['acme'],
      tools: ['crm_*'],
      permissions: ['crm:read'],
    }),
    rule({ id: 'no-ci-delete', effect: 'deny', agents: ['ci'], permissions: ['*:delete'] }),
    rule({ id: 'delete', effect: 'allow', permissions: ['files:delete'] }),
  ],
  compileCelCondition,
);

describe('policy table', () => {
  const cases: {
    name: string;
    p?: Partial<Principal>;
    tool?: string;
    permission: string;
    args?: Record<string, unknown>;
    effect: string;
    rules: string[];
  }[] = [
    { name: 'allow', permission: 'github:read', effect: 'allow', rules: ['read-all'] },
    { name: 'default deny', permission: 'slack:post', effect: 'deny', rules: [] },
    {
      name: 'wildcard permission for a role',
      p: { roles: ['owner'] },
      permission: 'github:issues',
      effect: 'allow',
      rules: ['gh-any-owner'],
    },
    {
      name: 'deny wins over a wildcard allow',
      p: { roles: ['owner'] },
      permission: 'github:admin',
      effect: 'deny',
      rules: ['no-admin'],
    },
    {
      name: 'approve, condition over args and principal holds',
      permission: 'github:write',
      args: { owner: 'acme' },
      effect: 'approve',
      rules: ['write-own'],
    },
    {
      name: 'approve condition fails → default deny',
      permission: 'github:write',
      args: { owner: 'evil' },
      effect: 'deny',
      rules: [],
    },
    {
      name: 'approve beats allow',
      p: { roles: ['owner'] },
      permission: 'github:write',
      args: { owner: 'acme' },
      effect: 'approve',
      rules: ['write-own'],
    },
    {
      name: 'arguments: small amount allowed',
      permission: 'pay:send',
      args: { amount: 40 },
      effect: 'allow',
      rules: ['small-pay'],
    },
    {
      name: 'arguments: boundary',
      permission: 'pay:send',
      args: { amount: 100 },
      effect: 'allow',
      rules: ['small-pay'],
    },
    {
      name: 'arguments: big amount needs approval',
      permission: 'pay:send',
      args: { amount: 100.5 },
      effect: 'approve',
      rules: ['big-pay'],
    },
    { name: 'missing argument never allows', permission: 'pay:send', args: {}, effect: 'deny', rules: [] },
    {
      name: 'wrong argument type never allows',
      permission: 'pay:send',
      args: { amount: '5' },
      effect: 'deny',
      rules: [],
    },
    { name: 'principal attribute too low', permission: 'hr:read', effect: 'deny', rules: [] },
    {
      name: 'principal attribute high enough',
      p: { attributes: { level: 7 } },
      permission: 'hr:read',
      effect: 'allow',
      rules: ['senior'],
    },
    {
      name: 'tool wildcard + tenant',
      tool: 'crm_get',
      permission: 'crm:read',
      effect: 'allow',
      rules: ['tenant-only'],
    },
    {
      name: 'other tenant',
      p: { tenant: 'other' },
      tool: 'crm_get',
      permission: 'crm:read',
      effect: 'deny',
      rules: [],
    },
    { name: 'tool outside the pattern', tool: 'erp_get', permission: 'crm:read', effect: 'deny', rules: [] },
    {
      name: 'wildcard deny for one agent',
      p: { agent: 'ci' },
      permission: 'files:delete',
      effect: 'deny',
      rules: ['no-ci-delete'],
    },
    { name: 'same permission, other agent', permission: 'files:delete', effect: 'allow', rules: ['delete'] },
  ];
  it.each(cases)('$name', (c) => {
    const decision = engine.decide({
      principal: principal(c.p),
      tool: c.tool ?? 't',
      permission: c.permission,
      args: c.args ?? {},
    });
    expect(decision.effect).toBe(c.effect);
    expect(decision.ruleIds).toEqual(c.rules);
  });

  it('a deny condition that errors counts as matching (errors only make decisions stricter)', () => {
    const e = new PolicyEngine(
      [
        rule({ id: 'a', effect: 'allow', permissions: ['x'] }),
        rule({ id: 'd', effect: 'deny', permissions: ['x'], when: 'args.n > 5' }),
      ],
      compileCelCondition,
    );
    expect(e.decide({ principal: principal(), tool: 't', permission: 'x', args: {} }).effect).toBe('deny');
    expect(e.decide({ principal: principal(), tool: 't', permission: 'x', args: { n: 1 } }).effect).toBe(
      'allow',
    );
  });

  // Security review of 2026-12-05: an approve condition that errored simply did not match, so a
  // call that left out the argument it reads (the upstream then uses its default) was decided by
  // a laxer rule: an allow, or an approve rule another channel may answer.
  it('an approve condition that errors is not a way around it: it joins whatever else lets the call through', () => {
    const e = new PolicyEngine(
      [
        rule({ id: 'writes', effect: 'allow', permissions: ['x'] }),
        rule({ id: 'main', effect: 'approve', permissions: ['x'], when: 'args.branch == "main"' }),
        rule({ id: 'mine', effect: 'approve', permissions: ['y'], approval: 'any' }),
        rule({
          id: 'main-y',
          effect: 'approve',
          permissions: ['y'],
          approval: 'operator',
          when: 'args.branch == "main"',
        }),
        rule({ id: 'only-z', effect: 'approve', permissions: ['z'], when: 'args.branch == "main"' }),
      ],
      compileCelCondition,
    );
    const decide = (permission: string, args: Record<string, unknown>) =>
      e.decide({ principal: principal(), tool: 't', permission, args });
    // The branch left out (or of a type the condition cannot compare): approval, not allow.
    expect(decide('x', {})).toMatchObject({ effect: 'approve', ruleIds: ['main'] });
    expect(decide('x', { branch: 'dev' })).toMatchObject({ effect: 'allow', ruleIds: ['writes'] });
    // ... and under the operator-only rule too, not only the one the client may answer.
    expect(decide('y', {})).toMatchObject({ effect: 'approve', ruleIds: ['mine', 'main-y'] });
    // Alone, an approve rule that errors still lets nothing through (default deny).
    expect(decide('z', {})).toMatchObject({ effect: 'deny', ruleIds: [] });
  });
});

describe('CEL compile at load', () => {
  it('reports a syntax error with the rule path', () => {
    const { config } = parseConfig({
      policy: {
        rules: [
          { id: 'ok', effect: 'allow' },
          { id: 'bad', effect: 'allow', when: 'args.owner ==' },
        ],
      },
    });
    const issues = validatePolicy(config);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('policy.rules[1].when');
    expect(issues[0]?.message).toMatch(/^CEL: /);
  });
  it('rejects unknown variables and non-bool conditions', () => {
    const issueOf = (expression: string): string => {
      try {
        compileCelCondition(expression, 'p');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).issues[0]?.message ?? '';
      }
      return 'compiled';
    };
    expect(issueOf('user.admin')).toMatch(/Unknown variable: user/);
    expect(issueOf('1 + 2')).toMatch(/must be a bool/);
    expect(() => compileCelCondition('"admin" in principal.roles', 'p')).not.toThrow();
  });
  it('a condition yielding a non-bool at run time does not allow', () => {
    const e = new PolicyEngine([rule({ id: 'a', effect: 'allow', when: 'args.flag' })], compileCelCondition);
    expect(
      e.decide({ principal: principal(), tool: 't', permission: 'x', args: { flag: 'yes' } }).effect,
    ).toBe('deny');
    expect(
      e.decide({ principal: principal(), tool: 't', permission: 'x', args: { flag: true } }).effect,
    ).toBe('allow');
  });
});

describe('property: no rule order turns a deny into an allow', () => {
  const ruleArb = fc.record({
    effect: fc.constantFrom('allow', 'deny', 'approve'),
    agents: fc.option(fc.subarray(['bot', 'ci', '*']), { nil: undefined }),
    roles: fc.option(fc.subarray(['dev', 'owner']), { nil: undefined }),
    permissions: fc.option(fc.subarray(['gh:read', 'gh:write', 'gh:*', '*']), { nil: undefined }),
    when: fc.option(fc.constantFrom('args.n > 2', 'principal.tenant == "acme"', 'args.s == "x"'), {
      nil: undefined,
    }),
  });
  it('holds for random rule sets, permutations, principals and arguments', () => {
    fc.assert(
      fc.property(
        fc.array(ruleArb, { minLength: 1, maxLength: 7 }),
        fc.func(fc.integer()),
        fc.constantFrom('bot', 'ci'),
        fc.subarray(['dev', 'owner']),
        fc.constantFrom('acme', 'other'),
        fc.constantFrom('gh:read', 'gh:write', 'x:y'),
        fc.record({
          n: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
          s: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }),
        }),
        (raw, order, agent, roles, tenant, permission, rawArgs) => {
          const rules = raw.map((r, i) =>
            rule({
              id: `r${i}`,
              ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)),
            }),
          );
          const shuffled = [...rules].sort((x, y) => order(x.id) - order(y.id) || x.id.localeCompare(y.id));
          const args = Object.fromEntries(Object.entries(rawArgs).filter(([, v]) => v !== undefined));
          const input = { principal: principal({ agent, roles, tenant }), tool: 't', permission, args };
          const a = new PolicyEngine(rules, compileCelCondition).decide(input);
          const b = new PolicyEngine(shuffled, compileCelCondition).decide(input);
          expect(b.effect).toBe(a.effect);
          expect([...b.ruleIds].sort()).toEqual([...a.ruleIds].sort());
          // Any matching deny decides: if one deny rule alone denies, the full set never allows.
          for (const r of rules.filter((x) => x.effect === 'deny')) {
            const alone = new PolicyEngine([r], compileCelCondition).decide(input);
            if (alone.reason === 'rule') expect(a.effect).toBe('deny');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
