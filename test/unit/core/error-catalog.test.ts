import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, ERROR_CODES, KeywardError, toStructuredError } from '../../../src/core/errors.js';

describe('error catalog and docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (.+?) \| (yes|no) \| (.+?) \|$/gm)];

  it('documents exactly the codes of the catalog, in the same order', () => {
    expect(rows.map((r) => r[1])).toEqual(ERROR_CODES);
  });

  it('documents the same retryability and next step for every code', () => {
    for (const row of rows) {
      const spec = ERROR_CATALOG[row[1] as keyof typeof ERROR_CATALOG];
      expect(row[3] === 'yes', row[1]).toBe(spec.retryable);
      expect(row[4]?.replace(/\\\|/g, '|'), row[1]).toBe(spec.nextStep);
    }
  });

  it('covers every code of DESIGN.md §3', () => {
    for (const code of [
      'invalid_arguments',
      'permission_denied',
      'approval_required',
      'approval_denied',
      'grant_expired',
      'rate_limited',
      'credential_expired',
      'credential_revoked',
      'credential_invalid',
      'credential_not_found',
      'secret_backend_unavailable',
      'upstream_error',
      'upstream_timeout',
      'upstream_rejected',
      'response_too_large',
      'audit_unavailable',
    ]) {
      expect(ERROR_CODES).toContain(code);
    }
  });

  it('builds the structured error an agent receives', () => {
    const error = new KeywardError('rate_limited', 'too many calls', {
      retryAfterSeconds: 12,
      detail: 'internal',
    });
    const structured = toStructuredError(error, { tool: 't', permission: 'p:read', requestId: 'r1' });
    expect(structured).toEqual({
      code: 'rate_limited',
      message: 'too many calls',
      retryable: true,
      retryAfterSeconds: 12,
      tool: 't',
      permission: 'p:read',
      requestId: 'r1',
      nextStep: ERROR_CATALOG.rate_limited.nextStep,
    });
    expect(JSON.stringify(structured)).not.toContain('internal');
  });
});
