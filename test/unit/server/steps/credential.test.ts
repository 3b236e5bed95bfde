/**
 * steps/credential.ts: the terminal turns the credential session's outcome into the answer or a
 * catalogued error (upstream_rejected without a credential, credential_invalid after the retry).
 */
import { describe, expect, it } from 'vitest';
import type { CallContext } from '../../../../src/server/call-context.js';
import type {
  CredentialRecord,
  CredentialSession,
  SessionCall,
  SessionOutcome,
} from '../../../../src/server/credential-session.js';
import { credentialSessionTerminal } from '../../../../src/server/steps/credential.js';
import { context, okResult } from './context.js';

function session(outcome: SessionOutcome, seen: [SessionCall, CredentialRecord][] = []): CredentialSession {
  return {
    run: (call: SessionCall, record: CredentialRecord) => {
      seen.push([call, record]);
      return Promise.resolve(outcome);
    },
  } as Pick<CredentialSession, 'run'> as CredentialSession;
}

describe('credential session terminal', () => {
  it('ok: the session runs with the call and its record; the result is returned', async () => {
    const seen: [SessionCall, CredentialRecord][] = [];
    const ctx: CallContext = context();
    const result = await credentialSessionTerminal(session({ kind: 'ok', result: okResult }, seen))(ctx);
    expect(result).toBe(okResult);
    expect(seen[0]![0]).toBe(ctx);
    expect(seen[0]![1]).toBe(ctx.credential);
  });

  it('auth-rejected → upstream_rejected; credential-invalid → credential_invalid', async () => {
    await expect(
      credentialSessionTerminal(session({ kind: 'auth-rejected', status: 403 }))(context()),
    ).rejects.toMatchObject({ code: 'upstream_rejected', message: expect.stringContaining('403') });
    await expect(
      credentialSessionTerminal(session({ kind: 'credential-invalid', status: 401 }))(context()),
    ).rejects.toMatchObject({ code: 'credential_invalid', message: expect.stringContaining('401') });
  });
});
