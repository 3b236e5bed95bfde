/**
 * The credential session of one call (innermost; DESIGN.md §2 steps 4–7), in the order it runs:
 * resolve the secret (credential-resolver: cache, else backend, single-flight) → derive and inject
 * (the tool's injector: an OAuth2 injector exchanges the secret for a token) → build, send and
 * classify the request (fixed origin, timeouts, no redirects, size cap). After an upstream 401/403
 * it drops the derived token, fetches the credential again once (forceRefresh, rejectedVersion: the
 * resolver drops the rejected version unless another call already replaced it), derives again and
 * retries once; a second rejection drops both and is `credential_invalid`.
 *
 * Each attempt returns an outcome value (`ok` or `auth-rejected`); catalogued upstream errors
 * (5xx, 429, timeouts) and resolver errors are thrown as KeywardErrors, as everywhere else.
 * What the session saw (the credential's key id and version, the upstream status, whether it
 * re-fetched, every injected value) goes into the call's CredentialRecord, which the audit, trace
 * and redaction steps read, also when the call failed.
 */
import type { CallSuccess, Principal, Secret } from '../core/types.js';
import { failSpan, SpanKind, startChild, traceHeaders, type CallTrace } from '../observability/tracing.js';
import type { Elicitor } from '../policy/authorizer.js';
import type { CredentialResolver, ResolveOutcome } from '../secrets/credential-resolver.js';
import { classifyResponse } from '../upstream/classify.js';
import type { HttpClient, UpstreamResponse } from '../upstream/http-client.js';
import type { OriginBreakers } from '../upstream/origin-breakers.js';
import type { OutboundRequest } from '../upstream/outbound-request.js';
import type { RedactionTarget } from '../upstream/redaction-target.js';
import { filterResponseHeaders } from '../upstream/response-headers.js';
import type { CompiledTool } from './compiled-tool.js';

/** What the session observed, for the steps around it (written only by the session). */
export interface CredentialRecord {
  /** The credential of the last attempt that resolved one (audit and span: key id + version). */
  secret: Secret | undefined;
  /** The upstream status of the last attempt that got an answer. */
  upstreamStatus: number | undefined;
  /** True once the credential was fetched again after an upstream 401/403. */
  refetched: boolean;
  /** Every secret-bearing string injected in any attempt, for redaction. */
  readonly injected: RedactionTarget[];
}

export function newCredentialRecord(): CredentialRecord {
  return { secret: undefined, upstreamStatus: undefined, refetched: false, injected: [] };
}

/** The inputs of one session (CallContext has them all). */
export interface SessionCall {
  readonly tool: CompiledTool;
  /** Validated arguments. */
  readonly args: Record<string, unknown>;
  readonly principal: Principal;
  readonly requestId: string;
  readonly signal: AbortSignal | undefined;
  readonly elicitor: Elicitor | undefined;
  readonly trace?: CallTrace | undefined;
}

/** One attempt: an answer, or the upstream refused the credential. */
export type AttemptOutcome =
  | { readonly kind: 'ok'; readonly result: CallSuccess }
  | { readonly kind: 'auth-rejected'; readonly status: number };

/** The whole session: an answer, or why the upstream's refusal is final. */
export type SessionOutcome =
  | { readonly kind: 'ok'; readonly result: CallSuccess }
  /** 401/403 from an upstream this tool sends no credential to (upstream_rejected). */
  | { readonly kind: 'auth-rejected'; readonly status: number }
  /** 401/403 again after the fresh fetch and one retry (credential_invalid). */
  | { readonly kind: 'credential-invalid'; readonly status: number };

export interface CredentialSessionDeps {
  readonly resolver: Pick<CredentialResolver, 'resolve' | 'invalidate'>;
  readonly http: Pick<HttpClient, 'send'>;
  /** One circuit breaker per upstream origin (auth rejections count as answers). */
  readonly breakers?: OriginBreakers | undefined;
}

/** Set on the retry after a rejection. */
interface Refetch {
  readonly rejectedVersion: string | undefined;
  /** 401 (the token is invalid) or 403 (valid, not allowed: RFC 6750 §3.1 insufficient_scope). */
  readonly rejectedStatus: number;
}

/**
 * Carries an auth rejection out of the origin's breaker (and only that far): a thrown error the
 * breaker does not handle is not sampled, so a 401/403 counts neither as a failure nor as a
 * success of the origin, as before the session returned outcome values.
 */
class PassedThroughBreaker extends Error {
  constructor(readonly outcome: AttemptOutcome) {
    super('auth rejection passed through the origin breaker');
  }
}

export class CredentialSession {
  constructor(private readonly deps: CredentialSessionDeps) {}

  async run(call: SessionCall, record: CredentialRecord): Promise<SessionOutcome> {
    const first = await this.attempt(call, record, undefined);
    if (first.kind === 'ok') return first;
    const credentialId = call.tool.credentialId;
    if (credentialId === undefined) return first;
    // Derived state (an OAuth2 access token) goes first; the resolver drops the rejected version.
    call.tool.injector?.invalidate?.();
    record.refetched = true;
    const second = await this.attempt(call, record, {
      rejectedVersion: record.secret?.version,
      rejectedStatus: first.status,
    });
    if (second.kind === 'ok') return second;
    call.tool.injector?.invalidate?.();
    await this.deps.resolver.invalidate(credentialId, call.principal);
    return { kind: 'credential-invalid', status: second.status };
  }

  /** resolve → derive + inject → send → classify, once. */
  private async attempt(
    call: SessionCall,
    record: CredentialRecord,
    refetch: Refetch | undefined,
  ): Promise<AttemptOutcome> {
    const tool = call.tool;
    const forceRefresh = refetch !== undefined;
    let secret: Secret | undefined;
    if (tool.credentialId !== undefined) {
      secret = await this.resolve(call, tool.credentialId, refetch);
      record.secret = secret;
    }
    const request = tool.buildRequest(call.args);
    if (tool.injector !== undefined && secret !== undefined) {
      const injected = await tool.injector.inject(request, secret, {
        forceRefresh,
        ...(call.signal === undefined ? {} : { signal: call.signal }),
      });
      for (const target of injected) {
        if (!record.injected.some((t) => t.value === target.value)) record.injected.push(target);
      }
    }
    const exchange = (): Promise<AttemptOutcome> => this.exchange(call, record, request);
    const send =
      call.trace === undefined
        ? exchange
        : tracedExchange(call.trace, record, request, forceRefresh, exchange);
    const breakers = this.deps.breakers;
    if (breakers === undefined) return send();
    try {
      return await breakers.run(tool.origin, async () => {
        const outcome = await send();
        if (outcome.kind === 'auth-rejected') throw new PassedThroughBreaker(outcome);
        return outcome;
      });
    } catch (error) {
      if (error instanceof PassedThroughBreaker) return error.outcome;
      throw error;
    }
  }

  private async resolve(
    call: SessionCall,
    credentialId: string,
    refetch: Refetch | undefined,
  ): Promise<Secret> {
    const forceRefresh = refetch !== undefined;
    const rejectedVersion = refetch?.rejectedVersion;
    const options = {
      forceRefresh,
      ...(rejectedVersion === undefined ? {} : { rejectedVersion }),
      ...(refetch === undefined ? {} : { rejectedStatus: refetch.rejectedStatus }),
      ...(call.signal === undefined ? {} : { signal: call.signal }),
      requestId: call.requestId,
      ...(call.elicitor === undefined ? {} : { interaction: call.elicitor }),
    };
    if (call.trace === undefined) return this.deps.resolver.resolve(credentialId, call.principal, options);
    const span = startChild(call.trace, 'credential.resolve', {
      'keyward.credential.id': credentialId,
      'keyward.credential.force_refresh': forceRefresh,
    });
    const outcome: ResolveOutcome = {};
    try {
      const secret = await this.deps.resolver.resolve(credentialId, call.principal, { ...options, outcome });
      span.setAttribute('keyward.credential.key_id', secret.keyId);
      span.setAttribute('keyward.credential.version', secret.version);
      return secret;
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      if (outcome.cache !== undefined) span.setAttribute('keyward.credential.cache', outcome.cache);
      span.end();
    }
  }

  private async exchange(
    call: SessionCall,
    record: CredentialRecord,
    request: OutboundRequest,
  ): Promise<AttemptOutcome> {
    const tool = call.tool;
    const response = await this.deps.http.send(request, tool.limits, call.signal);
    record.upstreamStatus = response.status;
    const verdict = classifyResponse(response, { tool: tool.name });
    if (verdict.kind === 'auth-rejected') return { kind: 'auth-rejected', status: verdict.status };
    if (verdict.kind === 'error') throw verdict.error;
    return { kind: 'ok', result: toCallSuccess(response, tool) };
  }
}

function toCallSuccess(response: UpstreamResponse, tool: CompiledTool): CallSuccess {
  return {
    status: response.status,
    contentType: response.headers['content-type'],
    headers: filterResponseHeaders(response.headers, tool.responseHeaders),
    body: response.body.toString('utf8'),
  };
}

/**
 * The upstream request as a client span: method, scheme, host and port (never the path or query),
 * the status code; its context goes upstream as `traceparent` (reserved: no tool template sets it).
 */
function tracedExchange(
  callTrace: CallTrace,
  record: CredentialRecord,
  request: OutboundRequest,
  refetch: boolean,
  exchange: () => Promise<AttemptOutcome>,
): () => Promise<AttemptOutcome> {
  return async () => {
    const url = request.url;
    const span = startChild(
      callTrace,
      'upstream.request',
      {
        'http.request.method': request.method,
        'url.scheme': url.protocol.slice(0, -1),
        'server.address': url.hostname,
        'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        'keyward.credential.refetch': refetch,
      },
      SpanKind.CLIENT,
    );
    const headers = traceHeaders(span);
    request.headers.traceparent = headers.traceparent;
    if (headers.tracestate === undefined) delete request.headers.tracestate;
    else request.headers.tracestate = headers.tracestate;
    // The status of this attempt only (a retry after 401/403 may fail before any answer).
    const previous = record.upstreamStatus;
    record.upstreamStatus = undefined;
    try {
      const outcome = await exchange();
      span.setAttribute(
        'http.response.status_code',
        outcome.kind === 'ok' ? outcome.result.status : outcome.status,
      );
      if (outcome.kind === 'auth-rejected') failSpan(span, undefined, String(outcome.status));
      return outcome;
    } catch (error) {
      if (record.upstreamStatus === undefined) record.upstreamStatus = previous;
      else span.setAttribute('http.response.status_code', record.upstreamStatus);
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  };
}
