/** The CEL examples shown in docs/capabilities.md compile and behave as documented. */
import { expect, it } from 'vitest';
import type { Principal } from '../../../src/core/types.js';
import { compileCelCondition } from '../../../src/policy/cel-condition.js';

const p: Principal = {
  agent: 'a',
  tenant: 'acme',
  roles: ['admin'],
  attributes: { level: 3 },
  authMethod: 'stdio',
};
const run = (expression: string, args: Record<string, unknown>): boolean =>
  compileCelCondition(expression, 'x')({ principal: p, tool: 'crm_get', permission: 'p', args });

it('documented examples', () => {
  expect(run('args.owner == principal.tenant', { owner: 'acme' })).toBe(true);
  expect(run('args.amount <= 100', { amount: 100 })).toBe(true);
  expect(run('has(args.owner) && args.owner == "evil"', {})).toBe(false);
  expect(run('has(args.owner) && args.owner == "evil"', { owner: 'evil' })).toBe(true);
  expect(run('args.labels.all(l, l != "prod")', { labels: ['a', 'b'] })).toBe(true);
  expect(run('args.labels.all(l, l != "prod")', { labels: ['a', 'prod'] })).toBe(false);
  expect(run('principal.attributes.level >= 3 && tool.startsWith("crm_")', {})).toBe(true);
  expect(run('"admin" in principal.roles', {})).toBe(true);
});
