/** A grant and an approval request as the stores receive them, for the GrantStore tests. */
import type { NewApproval, NewGrant } from '../../src/policy/grant-store.js';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

export function newGrant(over: Partial<NewGrant> = {}): NewGrant {
  return {
    agent: 'bot',
    tenant: 'acme',
    permission: 'gh:write',
    createdAt: T0,
    expiresAt: T0 + 60_000,
    createdBy: 'elicitation',
    ruleId: 'w',
    ...over,
  };
}

export function newApproval(over: Partial<NewApproval> = {}): NewApproval {
  return {
    agent: 'bot',
    tenant: 'acme',
    tool: 'gh_write',
    permission: 'gh:write',
    argsSummary: '{"owner":"acme"}',
    ttlSeconds: 300,
    maxTtlSeconds: 600,
    ruleIds: ['w'],
    requestedAt: T0,
    expiresAt: T0 + 3_600_000,
    ...over,
  };
}
