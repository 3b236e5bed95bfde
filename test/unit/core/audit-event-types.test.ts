/** The audit event types are one union (src/core/audit-events.ts), documented in docs/audit.md, and built by one constructor. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES, auditEvent } from '../../../src/core/audit-events.js';
import { repoRoot } from '../../helpers/cli.js';

describe('audit event types', () => {
  it('docs/audit.md lists exactly the types the code writes', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/audit.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### Event types'), doc.indexOf('## Hash chains'));
    const documented = [...section.matchAll(/^\| `([a-z]+\.[a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
  });

  it('the constructor leaves out absent fields and an empty tool name', () => {
    const event = auditEvent(
      'grant.used',
      Date.UTC(2026, 0, 1),
      { agent: 'a', tenant: 't', tool: '', permission: 'p', requestId: undefined },
      { decision: 'grant', ruleIds: undefined, details: { n: 1 } },
    );
    expect(event).toEqual({
      type: 'grant.used',
      time: '2026-01-01T00:00:00.000Z',
      agent: 'a',
      tenant: 't',
      permission: 'p',
      decision: 'grant',
      details: { n: 1 },
    });
  });
});
