/**
 * Steps 4–7, the terminal: the call's credential session (../credential-session.ts) resolves,
 * derives, injects, sends and retries once after a 401/403; this step turns its outcome into the
 * pipeline's answer or catalogued error.
 */
import { KeywardError } from '../../core/errors.js';
import type { CallSuccess } from '../../core/types.js';
import type { CallContext } from '../call-context.js';
import type { CredentialSession } from '../credential-session.js';

export function credentialSessionTerminal(
  session: CredentialSession,
): (ctx: CallContext) => Promise<CallSuccess> {
  return async (ctx) => {
    const outcome = await session.run(ctx, ctx.credential);
    switch (outcome.kind) {
      case 'ok':
        return outcome.result;
      case 'auth-rejected':
        throw new KeywardError(
          'upstream_rejected',
          `upstream answered ${outcome.status} and this tool has no credential`,
        );
      case 'credential-invalid':
        throw new KeywardError(
          'credential_invalid',
          `the upstream rejected the credential (${outcome.status}) even after a fresh fetch`,
        );
    }
  };
}
