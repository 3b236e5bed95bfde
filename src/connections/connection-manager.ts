/**
 * Per-user OAuth connections (issue 16). For a credential with `connection`, a call gets the
 * access token of *its principal's user* at the provider:
 *
 * - the record is read from the token vault at the credential's ref expanded for the principal
 *   (`{user}` comes from the verified identity, never from arguments), so user B's call can only
 *   ever read user B's record;
 * - the access token is cached in this process and refreshed before it expires, single-flight per
 *   (credential, user); a rotated refresh token is written back; a refresh refused with
 *   `invalid_grant` (revoked or expired at the provider) removes the record: `credential_revoked`,
 *   then the next call asks for consent again;
 * - with no record, the call hands out a single-use link to keyward's own /oauth/start page: as a
 *   URL elicitation when the client declared URL mode (the call waits, bounded), else as the
 *   structured error `authorization_required` with the link in `url`.
 *
 * Tokens never leave this module except as the Secret the injector puts on the outbound request
 * (and the logger's scrub list); audit events carry the provider, credential and user only.
 */
import { KeywardError, isKeywardError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { AuditEvent, Principal, Secret } from '../core/types.js';
import type { AuditSink } from '../audit/audit-sink.js';
import type { KeywardConfig } from '../config/schema.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import type { SecretBackend } from '../secrets/secret-backend.js';
import { digest, MemoryFlowStore, sameDigest, type Flow, type FlowStore, type Ticket } from './flows.js';
import { ProviderClient, type TokenSet } from './provider-client.js';
import { TokenVault, type ConnectionSummary, type TokenRecord } from './token-vault.js';
import type { AuditEventType } from '../core/audit-events.js';

export const OAUTH_PATH = '/oauth';

/** What a waiting call can ask its user: URL-mode elicitation (policy/authorizer.ts Elicitor). */
export interface UrlInteraction {
  readonly openUrl?: (request: {
    message: string;
    url: string;
    elicitationId: string;
  }) => Promise<'accept' | 'decline' | 'cancel'>;
  readonly completeUrl?: (elicitationId: string) => Promise<void>;
}

export interface ConnectionResolveOptions {
  readonly forceRefresh?: boolean;
  readonly rejectedVersion?: string;
  /** The API's status when it rejected the token: only a 401 says the token itself is bad. */
  readonly rejectedStatus?: number;
  readonly signal?: AbortSignal;
  readonly requestId?: string;
  readonly interaction?: UrlInteraction;
}

/**
 * Which stored connections an operator means. Users are named per tenant (alice of acme is not
 * alice of beta), so the console's per-row Revoke names the exact record (credential and ref).
 */
export interface ConnectionFilter {
  readonly user?: string;
  readonly provider?: string;
  readonly tenant?: string;
  readonly credential?: string;
  readonly ref?: string;
}

export interface ConnectionManagerOptions {
  readonly config: KeywardConfig;
  readonly backends: ReadonlyMap<string, SecretBackend>;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Values the logger scrubs: every token and client secret this module handles is added. */
  readonly secrets?: SecretRegistry;
  /** How often a waiting call looks for the stored connection (default 500 ms). */
  readonly pollMs?: number;
  /** Shared flow state (Redis) for replicas; this process's memory by default. */
  readonly flows?: FlowStore;
}

interface Live {
  readonly record: TokenRecord;
  readonly version: string;
  readonly refreshAt: number | undefined;
  readonly checkedAt: number;
}

/** The outcome of a browser step, for the router to render. */
export type StepResult =
  | { readonly kind: 'redirect'; readonly url: string }
  | { readonly kind: 'signedIn'; readonly session: string; readonly user: string; readonly then: Ticket }
  | { readonly kind: 'connected'; readonly provider: string; readonly user: string }
  | { readonly kind: 'refused'; readonly status: number; readonly message: string };

const SIGN_IN_TTL_SECONDS = 900;

export class ConnectionManager {
  readonly flows: FlowStore;
  private readonly providers = new Map<string, ProviderClient>();
  private readonly vaults = new Map<string, TokenVault>();
  private readonly signInClient: ProviderClient | undefined;
  private readonly live = new Map<string, Live>();
  private readonly inflight = new Map<string, Promise<Live | 'missing'>>();
  private readonly waiters = new Map<string, Set<(outcome: 'connected' | 'declined') => void>>();
  private base: string | undefined;
  private generation = 0;

  constructor(private readonly options: ConnectionManagerOptions) {
    const { config } = options;
    this.flows = options.flows ?? new MemoryFlowStore(options.clock);
    this.base = config.connections.publicUrl?.replace(/\/+$/, '');
    for (const [name, p] of Object.entries(config.connections.providers)) {
      this.providers.set(
        name,
        new ProviderClient(
          { name, ...p },
          () => this.readValue(p.clientSecret),
          () => options.clock.now(),
        ),
      );
    }
    const signIn = config.connections.signIn;
    if (signIn !== undefined) {
      this.signInClient = new ProviderClient(
        {
          name: 'keyward sign-in',
          issuer: signIn.issuer,
          clientId: signIn.clientId,
          clientAuth: signIn.clientAuth,
          scopes: signIn.scopes,
          timeoutMs: signIn.timeoutMs,
        },
        () => this.readValue(signIn.clientSecret),
        () => options.clock.now(),
      );
    }
    for (const [id, credential] of Object.entries(config.credentials)) {
      if (credential.connection === undefined) continue;
      const backend = options.backends.get(credential.backend);
      if (backend === undefined) continue;
      this.vaults.set(
        id,
        new TokenVault(id, credential.connection, credential.backend, backend, credential.ref),
      );
    }
  }

  /** Releases the shared flow store (Redis). */
  async close(): Promise<void> {
    await this.flows.close();
  }

  /** Whether any credential is a user connection (the /oauth pages are served only then). */
  get enabled(): boolean {
    return this.vaults.size > 0;
  }

  handles(credentialId: string): boolean {
    return this.vaults.has(credentialId);
  }

  /** Records keyward's browser-facing base URL as served (kept when publicUrl was configured). */
  served(baseUrl: string): void {
    this.base ??= baseUrl.replace(/\/+$/, '');
  }

  get redirectUri(): string {
    return `${this.requireBase()}${OAUTH_PATH}/callback`;
  }

  private requireBase(): string {
    if (this.base === undefined)
      throw new KeywardError('internal_error', 'keyward has no address for its /oauth pages', {
        detail: 'set connections.publicUrl or serve over HTTP (serve --http)',
      });
    return this.base;
  }

  // ---------------------------------------------------------------- the call path

  /** The user's access token for a user-connection credential, as the Secret the injector places. */
  async resolve(
    credentialId: string,
    principal: Principal,
    options: ConnectionResolveOptions = {},
  ): Promise<Secret> {
    const vault = this.vaults.get(credentialId);
    if (vault === undefined)
      throw new KeywardError('internal_error', 'the credential is not a user connection', {
        detail: `credential "${credentialId}" has no connection`,
      });
    const ref = vault.refFor(principal);
    const key = `${credentialId}\u0000${ref}`;
    const now = this.options.clock.now();
    const current = this.live.get(key);
    const recheckMs = (this.options.config.credentials[credentialId]?.cacheTtlSeconds ?? 60) * 1000;
    if (current !== undefined) {
      if (options.forceRefresh === true) {
        // Another call already replaced the token this call saw rejected.
        if (options.rejectedVersion !== undefined && current.version !== options.rejectedVersion)
          return this.secretOf(vault, current);
      } else if (
        (current.refreshAt === undefined || now < current.refreshAt) &&
        now - current.checkedAt < recheckMs
      ) {
        return this.secretOf(vault, current);
      }
    }
    // A 401 says the token is invalid (RFC 6750 §3.1 invalid_token): refresh it, or drop a
    // connection that cannot be refreshed. A 403 says a valid token may not do this (scope, rate
    // limit, a resource the user cannot see): the agent chooses what it calls, so a 403 must never
    // refresh or disconnect anyone's account (security review of 2026-12-05); it is the call's
    // answer (credential_invalid) and the connection stays.
    const rejected =
      options.forceRefresh === true && options.rejectedStatus !== 403
        ? current?.record.accessToken
        : undefined;
    const loaded = await this.single(key, () =>
      this.load(vault, ref, key, principal, rejected, options.requestId),
    );
    if (loaded !== 'missing') return this.secretOf(vault, loaded);
    return this.consent(vault, ref, principal, options);
  }

  private async single(key: string, run: () => Promise<Live | 'missing'>): Promise<Live | 'missing'> {
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const promise = run().finally(() => {
      if (this.inflight.get(key) === promise) this.inflight.delete(key);
    });
    this.inflight.set(key, promise);
    return promise;
  }

  private secretOf(vault: TokenVault, live: Live): Secret {
    return {
      value: live.record.accessToken,
      version: live.version,
      keyId: `connection:${vault.provider}:${live.record.user}`,
      ...(live.record.expiresAt === undefined ? {} : { expiresAt: live.record.expiresAt }),
    };
  }

  private remember(key: string, vault: TokenVault, record: TokenRecord, backendVersion: string): Live {
    const previous = this.live.get(key);
    const same = previous?.record.accessToken === record.accessToken;
    const provider = this.options.config.connections.providers[vault.provider];
    const skewMs = (provider?.refreshSkewSeconds ?? 60) * 1000;
    const now = this.options.clock.now();
    let expiresAt = record.expiresAt;
    if (expiresAt === undefined && (provider?.defaultLifetimeSeconds ?? 0) > 0)
      expiresAt = now + provider!.defaultLifetimeSeconds * 1000;
    const refreshAt =
      expiresAt === undefined ? undefined : expiresAt - Math.min(skewMs, Math.max(0, (expiresAt - now) / 2));
    const live: Live = {
      record,
      version: same ? previous.version : `${backendVersion}.${++this.generation}`,
      refreshAt,
      checkedAt: now,
    };
    if (!same && previous !== undefined) this.options.secrets?.delete(previous.record.accessToken);
    this.options.secrets?.add(record.accessToken);
    if (record.refreshToken !== undefined) this.options.secrets?.add(record.refreshToken);
    this.live.delete(key);
    this.live.set(key, live);
    while (this.live.size > 10_000) {
      const oldest = this.live.keys().next().value;
      if (oldest === undefined) break;
      this.live.delete(oldest);
    }
    return live;
  }

  private needsRefresh(vault: TokenVault, record: TokenRecord): boolean {
    if (record.expiresAt === undefined) return false;
    const provider = this.options.config.connections.providers[vault.provider];
    const skewMs = (provider?.refreshSkewSeconds ?? 60) * 1000;
    return this.options.clock.now() >= record.expiresAt - skewMs;
  }

  /** Reads the record; refreshes when it is due or was rejected upstream. Single-flight per key. */
  private async load(
    vault: TokenVault,
    ref: string,
    key: string,
    principal: Principal,
    rejectedToken: string | undefined,
    requestId: string | undefined,
  ): Promise<Live | 'missing'> {
    const stored = await vault.read(ref);
    if (stored === undefined) {
      this.live.delete(key);
      return 'missing';
    }
    const record = stored.record;
    const rejected = rejectedToken !== undefined && record.accessToken === rejectedToken;
    if (!rejected && !this.needsRefresh(vault, record))
      return this.remember(key, vault, record, stored.version);
    const now = this.options.clock.now();
    const stillValid = !rejected && (record.expiresAt === undefined || now < record.expiresAt);
    if (record.refreshToken === undefined) {
      if (stillValid) return this.remember(key, vault, record, stored.version);
      await this.drop(
        vault,
        ref,
        key,
        record,
        principal,
        requestId,
        rejected ? 'rejected by the API' : 'expired',
      );
      throw new KeywardError(
        'credential_revoked',
        `the ${vault.provider} connection of user ${record.user} is no longer accepted; the next call asks them to reconnect`,
      );
    }
    const waitMs = (this.options.config.connections.providers[vault.provider]?.timeoutMs ?? 5000) * 2;
    let current = { record, version: stored.version };
    if (!(await this.flows.acquireRefresh(key, waitMs))) {
      // Another replica is refreshing this user's tokens: use what it writes back.
      const other = await this.awaitOtherRefresh(vault, ref, record, waitMs);
      if (other === 'missing') {
        this.live.delete(key);
        return 'missing';
      }
      if (other !== undefined) return this.remember(key, vault, other.record, other.version);
    } else {
      // It may have finished just before this replica took the lock.
      const again = await vault.read(ref).catch(() => undefined);
      if (again !== undefined && again.record.accessToken !== record.accessToken) {
        if (!this.needsRefresh(vault, again.record)) {
          await this.flows.releaseRefresh(key).catch(() => undefined);
          return this.remember(key, vault, again.record, again.version);
        }
        current = again;
      }
    }
    try {
      return await this.refreshNow(
        vault,
        ref,
        key,
        principal,
        current.record,
        current.version,
        stillValid,
        requestId,
      );
    } finally {
      await this.flows.releaseRefresh(key).catch(() => undefined);
    }
  }

  /** Waits (bounded) for another replica's refresh to land in the vault. */
  private async awaitOtherRefresh(
    vault: TokenVault,
    ref: string,
    record: TokenRecord,
    waitMs: number,
  ): Promise<{ record: TokenRecord; version: string } | 'missing' | undefined> {
    const deadline = this.options.clock.now() + waitMs;
    while (this.options.clock.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await vault.read(ref).catch(() => undefined);
      if (again === undefined) return 'missing';
      if (again.record.accessToken !== record.accessToken) return again;
    }
    return undefined;
  }

  private async refreshNow(
    vault: TokenVault,
    ref: string,
    key: string,
    principal: Principal,
    record: TokenRecord & { refreshToken?: string | undefined },
    storedVersion: string,
    stillValid: boolean,
    requestId: string | undefined,
  ): Promise<Live> {
    const provider = this.providers.get(vault.provider)!;
    const refreshToken = record.refreshToken!;
    let tokens: TokenSet;
    try {
      tokens = await provider.refresh(refreshToken);
    } catch (error) {
      if (isKeywardError(error) && error.code === 'credential_revoked') {
        // Another replica may have rotated the refresh token in the meantime.
        const again = await vault.read(ref).catch(() => undefined);
        if (again !== undefined && again.record.refreshToken !== record.refreshToken)
          return this.remember(key, vault, again.record, again.version);
        await this.audit('connection.refresh_failed', principal, vault, requestId, {
          reason: 'invalid_grant',
        });
        await this.drop(vault, ref, key, record, principal, requestId, 'revoked or expired at the provider');
        throw new KeywardError(
          'credential_revoked',
          `the ${vault.provider} connection of user ${record.user} was revoked at the provider; the next call asks them to reconnect`,
        );
      }
      await this.audit('connection.refresh_failed', principal, vault, requestId, {
        reason: isKeywardError(error) ? error.code : 'error',
      });
      if (stillValid && isKeywardError(error) && error.code === 'secret_backend_unavailable') {
        this.options.logger.warn(
          { credential: vault.credentialId, provider: vault.provider },
          'connection refresh failed on availability: using the current access token until it expires',
        );
        return this.remember(key, vault, record, storedVersion);
      }
      throw error;
    }
    // The provider answered; the connection may have been revoked (console, CLI, another replica)
    // while the request was in flight. Writing back would bring it back to life (security review
    // of 2026-12-05), so the record is read again: gone means revoked, and the tokens just issued
    // are revoked at the provider too. A record whose refresh token changed was rotated or
    // reconnected meanwhile: it wins over ours. An unreadable vault falls through to the write,
    // which then fails the same way and is logged.
    const latest = await vault.read(ref).then(
      (stored) => stored ?? ('gone' as const),
      () => undefined,
    );
    if (latest === 'gone') {
      this.live.delete(key);
      await this.revokeTokens(provider, tokens.refreshToken, tokens.accessToken);
      throw new KeywardError(
        'credential_revoked',
        `the ${vault.provider} connection of user ${record.user} was revoked; the next call asks them to reconnect`,
      );
    }
    if (latest !== undefined && latest.record.refreshToken !== record.refreshToken)
      return this.remember(key, vault, latest.record, latest.version);
    const next: TokenRecord = {
      ...record,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken ?? record.refreshToken,
      expiresAt: tokens.expiresAt,
      ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
      refreshedAt: new Date(this.options.clock.now()).toISOString(),
    };
    let version = storedVersion;
    try {
      version = await vault.write(ref, next);
    } catch (error) {
      this.options.logger.error(
        { credential: vault.credentialId, err: (error as Error).name },
        'refreshed connection tokens could not be written back; they live in this process only',
      );
    }
    this.options.logger.debug(
      {
        credential: vault.credentialId,
        provider: vault.provider,
        rotated: tokens.refreshToken !== undefined,
      },
      'connection access token refreshed',
    );
    return this.remember(key, vault, next, version);
  }

  private async drop(
    vault: TokenVault,
    ref: string,
    key: string,
    record: TokenRecord,
    principal: Principal,
    requestId: string | undefined,
    reason: string,
  ): Promise<void> {
    this.live.delete(key);
    await vault.remove(ref).catch(() => false);
    await this.audit('connection.revoked', principal, vault, requestId, {
      by: 'provider',
      reason,
      user: record.user,
    });
  }

  /** No stored connection: a link for the user; waits after a URL elicitation, else authorization_required. */
  private async consent(
    vault: TokenVault,
    ref: string,
    principal: Principal,
    options: ConnectionResolveOptions,
  ): Promise<Secret> {
    const user = principal.user!;
    const requestId = options.requestId ?? 'none';
    const ticket = await this.flows.issueTicket(
      {
        credentialId: vault.credentialId,
        provider: vault.provider,
        ref,
        tenant: principal.tenant,
        agent: principal.agent,
        user,
        requestId,
      },
      this.options.config.connections.linkTtlSeconds,
    );
    const url = `${this.requireBase()}${OAUTH_PATH}/start?ticket=${ticket.id}`;
    await this.audit('connection.requested', principal, vault, options.requestId, {
      elicitation: options.interaction?.openUrl !== undefined,
    });
    const interaction = options.interaction;
    if (interaction?.openUrl !== undefined) {
      const outcome = await this.waitForConsent(vault, ref, ticket, interaction, options.signal);
      if (outcome === 'connected') {
        const key = `${vault.credentialId}\u0000${ref}`;
        const loaded = await this.single(key, () =>
          this.load(vault, ref, key, principal, undefined, options.requestId),
        );
        if (loaded !== 'missing') return this.secretOf(vault, loaded);
      }
    }
    throw new KeywardError(
      'authorization_required',
      `this tool acts for user ${user} at ${vault.provider}, who has not connected their account yet: ` +
        `they should open ${url} in their browser and consent, then retry`,
      { url },
    );
  }

  private async waitForConsent(
    vault: TokenVault,
    ref: string,
    ticket: Ticket,
    interaction: UrlInteraction,
    signal: AbortSignal | undefined,
  ): Promise<'connected' | 'declined' | 'timeout'> {
    const elicitationId = `connect.${ticket.id.slice(0, 16)}`;
    const key = `${vault.credentialId}\u0000${ref}`;
    let settled: 'connected' | 'declined' | undefined;
    let wake: () => void = () => undefined;
    const listener = (outcome: 'connected' | 'declined'): void => {
      settled = outcome;
      wake();
    };
    let set = this.waiters.get(key);
    if (set === undefined) this.waiters.set(key, (set = new Set()));
    set.add(listener);
    const opened = interaction.openUrl!({
      message:
        `To continue, connect your ${vault.provider} account: open this page, sign in as yourself and ` +
        'consent. keyward stores the tokens; your agent never sees them.',
      url: `${this.requireBase()}${OAUTH_PATH}/start?ticket=${ticket.id}`,
      elicitationId,
    }).catch(() => 'cancel' as const);
    void opened.then((action) => {
      if (action !== 'accept') {
        settled ??= 'declined';
        wake();
      }
    });
    const deadline = this.options.clock.now() + this.options.config.connections.waitSeconds * 1000;
    const pollMs = this.options.pollMs ?? 500;
    try {
      for (;;) {
        if (settled !== undefined) return settled;
        if (signal?.aborted === true || this.options.clock.now() >= deadline) return 'timeout';
        // A consent completed on another replica is seen in the shared vault.
        const stored = await vault.read(ref).catch(() => undefined);
        if (stored !== undefined) return 'connected';
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, pollMs);
          function done(): void {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
          }
          wake = done;
          signal?.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      set.delete(listener);
      if (set.size === 0) this.waiters.delete(key);
      await interaction.completeUrl?.(elicitationId).catch(() => undefined);
    }
  }

  private notify(credentialId: string, ref: string, outcome: 'connected' | 'declined'): void {
    for (const listener of this.waiters.get(`${credentialId}\u0000${ref}`) ?? []) listener(outcome);
  }

  // ---------------------------------------------------------------- the browser steps

  /**
   * /oauth/start?ticket=…: takes the single-use ticket and sends the browser to sign in to keyward
   * (verifyUser "signIn", not yet signed in as the ticket's user) or straight to the provider.
   */
  async start(ticketId: string, browser: string, signedInUser: string | undefined): Promise<StepResult> {
    const ticket = await this.flows.takeTicket(ticketId);
    if (ticket === undefined)
      return {
        kind: 'refused',
        status: 410,
        message:
          'This link has expired or was already used. Ask your agent to try again: it gets a new link.',
      };
    const provider = this.options.config.connections.providers[ticket.provider];
    if (provider === undefined) return { kind: 'refused', status: 404, message: 'Unknown provider.' };
    if (provider.verifyUser === 'signIn') {
      if (signedInUser === undefined) return this.toSignIn(ticket, browser);
      if (signedInUser !== ticket.user) return this.mismatch(ticket, 'signIn');
    }
    return this.toProvider(ticket, browser);
  }

  /** Continues after a sign-in: the signed-in user must be the ticket's user. */
  async afterSignIn(ticket: Ticket, browser: string, user: string): Promise<StepResult> {
    if (user !== ticket.user) return this.mismatch(ticket, 'signIn');
    return this.toProvider(ticket, browser);
  }

  private async toSignIn(ticket: Ticket, browser: string): Promise<StepResult> {
    const client = this.signInClient;
    if (client === undefined) return { kind: 'refused', status: 500, message: 'Sign-in is not configured.' };
    const state = this.flows.newState();
    const started = await client.start(this.redirectUri, state);
    await this.flows.startFlowWithState(
      state,
      { kind: 'signIn', ticket, verifier: started.verifier, nonce: started.nonce, browser },
      this.options.config.connections.stateTtlSeconds,
    );
    return { kind: 'redirect', url: started.url.href };
  }

  private async toProvider(ticket: Ticket, browser: string): Promise<StepResult> {
    const client = this.providers.get(ticket.provider)!;
    const state = this.flows.newState();
    const started = await client.start(this.redirectUri, state);
    await this.flows.startFlowWithState(
      state,
      { kind: 'connect', ticket, verifier: started.verifier, nonce: started.nonce, browser },
      this.options.config.connections.stateTtlSeconds,
    );
    return { kind: 'redirect', url: started.url.href };
  }

  private async mismatch(ticket: Ticket, how: 'signIn' | 'idToken'): Promise<StepResult> {
    await this.auditTicket('connection.refused', ticket, { reason: 'user mismatch', check: how });
    this.options.logger.warn(
      { provider: ticket.provider, credential: ticket.credentialId, check: how },
      'connection refused: the person who signed in is not the user the link was made for',
    );
    return {
      kind: 'refused',
      status: 403,
      message:
        'You are signed in as someone else than the person this link was made for. Nothing was connected. ' +
        'Only the person whose agent asked can complete this link.',
    };
  }

  /** /oauth/callback: the provider (or keyward's identity provider) sends the browser back. */
  async callback(url: URL, browser: string | undefined): Promise<StepResult> {
    const state = url.searchParams.get('state') ?? '';
    const taken = state === '' ? undefined : await this.flows.takeFlow(state);
    if (taken === undefined)
      return {
        kind: 'refused',
        status: 400,
        message: 'Unknown or already used sign-in state. Start again from a new link.',
      };
    if (taken === 'expired')
      return {
        kind: 'refused',
        status: 400,
        message: 'This consent took too long. Start again from a new link.',
      };
    const flow: Flow = taken;
    if (browser === undefined || !sameDigest(flow.browser, browser)) {
      await this.auditTicket('connection.refused', flow.ticket, { reason: 'state from another browser' });
      return {
        kind: 'refused',
        status: 403,
        message: 'This consent was started in another browser. Nothing was connected.',
      };
    }
    if (url.searchParams.has('error')) {
      this.notify(flow.ticket.credentialId, flow.ticket.ref, 'declined');
      await this.auditTicket('connection.refused', flow.ticket, {
        reason: 'declined at the provider',
      });
      return { kind: 'refused', status: 400, message: 'The consent was not given. Nothing was connected.' };
    }
    // Exactly the redirect URI the consent started with, with the provider's query.
    const callback = new URL(this.redirectUri);
    callback.search = url.search;
    if (flow.kind === 'signIn') {
      const tokens = await this.signInClient!.finish(callback, flow).catch(() => undefined);
      const claim = this.options.config.connections.signIn?.userClaim ?? 'sub';
      const user = tokens?.claims?.[claim];
      if (typeof user !== 'string')
        return {
          kind: 'refused',
          status: 403,
          message: 'The sign-in did not complete. Nothing was connected.',
        };
      const session = await this.flows.signIn(user, SIGN_IN_TTL_SECONDS);
      return { kind: 'signedIn', session, user, then: flow.ticket };
    }
    const ticket = flow.ticket;
    const client = this.providers.get(ticket.provider)!;
    const provider = this.options.config.connections.providers[ticket.provider]!;
    let tokens: TokenSet;
    try {
      tokens = await client.finish(callback, flow);
    } catch (error) {
      await this.auditTicket('connection.refused', ticket, {
        reason: isKeywardError(error) ? error.code : 'error',
      });
      return {
        kind: 'refused',
        status: 502,
        message:
          'The provider did not complete the consent. Nothing was connected; try again from a new link.',
      };
    }
    if (provider.verifyUser === 'idToken' && tokens.claims?.[provider.userClaim] !== ticket.user) {
      // The account that consented is not the user's: throw its tokens away at the provider too.
      await this.revokeTokens(client, tokens.refreshToken, tokens.accessToken);
      return this.mismatch(ticket, 'idToken');
    }
    const record: TokenRecord = {
      provider: ticket.provider,
      user: ticket.user,
      tenant: ticket.tenant,
      agent: ticket.agent,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: tokens.expiresAt,
      scope: tokens.scope,
      connectedAt: new Date(this.options.clock.now()).toISOString(),
    };
    this.options.secrets?.add(tokens.accessToken);
    if (tokens.refreshToken !== undefined) this.options.secrets?.add(tokens.refreshToken);
    const vault = this.vaults.get(ticket.credentialId)!;
    try {
      await vault.write(ticket.ref, record);
    } catch (error) {
      this.options.logger.error(
        { credential: ticket.credentialId, err: (error as Error).name },
        'connection tokens could not be stored',
      );
      return { kind: 'refused', status: 503, message: 'keyward could not store the connection; try again.' };
    }
    for (const [key] of this.live)
      if (key === `${ticket.credentialId}\u0000${ticket.ref}`) this.live.delete(key);
    await this.auditTicket('connection.connected', ticket, { scope: tokens.scope ?? '' });
    this.notify(ticket.credentialId, ticket.ref, 'connected');
    return { kind: 'connected', provider: ticket.provider, user: ticket.user };
  }

  // ---------------------------------------------------------------- operators

  async list(filter: ConnectionFilter = {}): Promise<ConnectionSummary[]> {
    const out: ConnectionSummary[] = [];
    const wanted = (asked: string | undefined, value: string | undefined): boolean =>
      asked === undefined || asked === value;
    for (const vault of this.vaults.values()) {
      if (!wanted(filter.provider, vault.provider) || !wanted(filter.credential, vault.credentialId))
        continue;
      for (const c of await vault.list())
        if (wanted(filter.user, c.user) && wanted(filter.tenant, c.tenant) && wanted(filter.ref, c.ref))
          out.push(c);
    }
    return out;
  }

  /**
   * Removes stored connections (and revokes their tokens at the provider where it offers RFC 7009).
   * Returns what was removed and whether the provider revoked it.
   */
  async revoke(
    filter: ConnectionFilter,
    by: string,
  ): Promise<{ connection: ConnectionSummary; revokedAtProvider: boolean }[]> {
    const done: { connection: ConnectionSummary; revokedAtProvider: boolean }[] = [];
    for (const connection of await this.list(filter)) {
      const vault = this.vaults.get(connection.credential)!;
      const stored = await vault.read(connection.ref).catch(() => undefined);
      let revokedAtProvider = false;
      if (stored !== undefined) {
        revokedAtProvider = await this.revokeTokens(
          this.providers.get(vault.provider)!,
          stored.record.refreshToken,
          stored.record.accessToken,
        );
      }
      await vault.remove(connection.ref);
      for (const key of [...this.live.keys()])
        if (key === `${vault.credentialId}\u0000${connection.ref}`) this.live.delete(key);
      await this.append({
        type: 'connection.revoked',
        ...(connection.agent === undefined ? {} : { agent: connection.agent }),
        ...(connection.tenant === undefined ? {} : { tenant: connection.tenant }),
        details: {
          provider: vault.provider,
          credential: vault.credentialId,
          user: connection.user ?? '',
          by,
          revokedAtProvider,
        },
      });
      done.push({ connection, revokedAtProvider });
    }
    return done;
  }

  private async revokeTokens(
    client: ProviderClient,
    refreshToken: string | undefined,
    accessToken: string,
  ): Promise<boolean> {
    try {
      if (refreshToken !== undefined) return await client.revoke(refreshToken, 'refresh_token');
      return await client.revoke(accessToken, 'access_token');
    } catch (error) {
      this.options.logger.warn(
        { provider: client.settings.name, err: isKeywardError(error) ? error.code : 'error' },
        'revocation at the provider failed',
      );
      return false;
    }
  }

  // ---------------------------------------------------------------- helpers

  private async readValue(
    source: { backend: string; ref: string; field?: string | undefined } | undefined,
  ): Promise<string | undefined> {
    if (source === undefined) return undefined;
    const backend = this.options.backends.get(source.backend);
    if (backend === undefined)
      throw new KeywardError('internal_error', 'the client secret names an unknown backend', {
        detail: `backend "${source.backend}"`,
      });
    const secret = await backend.get({
      ref: source.ref,
      ...(source.field === undefined ? {} : { field: source.field }),
    });
    this.options.secrets?.add(secret.value);
    return secret.value;
  }

  private async audit(
    type: AuditEventType,
    principal: Principal,
    vault: TokenVault,
    requestId: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.append({
      type,
      ...(requestId === undefined ? {} : { requestId }),
      agent: principal.agent,
      tenant: principal.tenant,
      details: {
        provider: vault.provider,
        credential: vault.credentialId,
        user: principal.user ?? '',
        ...details,
      },
    });
  }

  private async auditTicket(
    type: AuditEventType,
    ticket: Ticket,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.append({
      type,
      requestId: ticket.requestId,
      agent: ticket.agent,
      tenant: ticket.tenant,
      details: { provider: ticket.provider, credential: ticket.credentialId, user: ticket.user, ...details },
    });
  }

  private async append(event: Omit<AuditEvent, 'time'>): Promise<void> {
    try {
      await this.options.audit.append({ ...event, time: new Date(this.options.clock.now()).toISOString() });
    } catch (error) {
      this.options.logger.error({ type: event.type, err: (error as Error).name }, 'connection audit failed');
    }
  }
}

export { digest };
