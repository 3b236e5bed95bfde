/** The request keyward is about to send upstream, and how a credential is put into it. */
import type { Secret } from '../core/types.js';
import type { RedactionTarget } from './redaction-target.js';

export interface OutboundRequest {
  method: string;
  /** Always built from the tool's fixed origin; never from arguments. */
  url: URL;
  /** Lowercase header names. */
  headers: Record<string, string>;
  body: string | undefined;
}

export interface InjectContext {
  readonly signal?: AbortSignal;
  /** True on the retry after an upstream 401/403: derived tokens (OAuth2) must be refreshed. */
  readonly forceRefresh: boolean;
}

/**
 * Puts a credential into an outbound request (header, query, basic auth, OAuth2 token).
 * Compiled once per credential at startup.
 */
export interface Injector {
  /**
   * Mutates `request` to carry the credential. Returns every secret-bearing string it placed or used
   * (the raw secret, a derived access token, the formatted header value) so the redactor removes
   * each of them from what comes back; public wrappers are marked so they are matched only whole.
   * Throws KeywardError (never with the secret in the message).
   */
  inject(
    request: OutboundRequest,
    secret: Secret,
    context: InjectContext,
  ): Promise<readonly RedactionTarget[]>;
  /** Drops derived state (an OAuth2 access token) after the upstream rejected it. */
  invalidate?(): void;
}
