/** mapVaultError: every Vault failure shape maps to its catalog code with a safe message (reference §4). */
import { describe, expect, it } from 'vitest';
import { mapVaultError, VaultTimeoutError } from '../../../src/secrets/vault/vault-errors.js';

function apiError(status: number, body: unknown): Error {
  const first = (body as { errors?: string[] })?.errors?.[0];
  return Object.assign(new Error(first ?? `Status ${status}`), { response: { statusCode: status, body } });
}

const now = Date.parse('2026-01-01T00:00:00Z');

describe('mapVaultError', () => {
  it.each([
    [
      403,
      { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] },
      'credential_expired',
    ],
    [403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] }, 'credential_invalid'],
    [404, { errors: [] }, 'credential_not_found'],
    [404, { errors: ['no handler for route "kv/data/x". route entry not found.'] }, 'credential_not_found'],
    [
      404,
      {
        data: { data: null, metadata: { deletion_time: '2025-12-31T00:00:00.000000000Z', destroyed: false } },
      },
      'credential_revoked',
    ],
    [404, { data: { data: null, metadata: { deletion_time: '', destroyed: true } } }, 'credential_revoked'],
    [400, { errors: ['invalid role or secret ID'] }, 'credential_invalid'],
    [400, { errors: ['lease expired'] }, 'credential_expired'],
    [400, { errors: ['lease not found'] }, 'credential_revoked'],
    [
      429,
      { errors: ['request path "secret/data/x": rate limit quota exceeded'] },
      'secret_backend_unavailable',
    ],
    [412, { errors: [] }, 'secret_backend_unavailable'],
    [500, { errors: ['1 error occurred:\n\t* internal error\n\n'] }, 'secret_backend_unavailable'],
    [502, '<html>bad gateway</html>', 'secret_backend_unavailable'],
    [503, { errors: ['Vault is sealed'] }, 'secret_backend_unavailable'],
  ])('%i %j → %s', (status, body, code) => {
    const e = mapVaultError(apiError(status, body), 'v', now);
    expect(e.code).toBe(code);
    expect(e.message).not.toMatch(/secret\/data|kv\/data|route|quota/);
    if (code === 'secret_backend_unavailable') expect(e.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('network failures and our own deadline are unavailable', () => {
    for (const code of ['ECONNREFUSED', 'ECONNABORTED', 'ECONNRESET']) {
      const e = mapVaultError(Object.assign(new Error('x'), { code }), 'v');
      expect(e.code).toBe('secret_backend_unavailable');
    }
    expect(mapVaultError(new VaultTimeoutError(100), 'v').message).toContain('in time');
  });

  it('the sealed hint waits longer than a plain 503', () => {
    const sealed = mapVaultError(apiError(503, { errors: ['Vault is sealed'] }), 'v');
    const standby = mapVaultError(apiError(503, { errors: ['Vault is in standby mode'] }), 'v');
    expect(sealed.retryAfterSeconds).toBeGreaterThan(standby.retryAfterSeconds ?? 0);
  });
});
