/**
 * Steps 5–7: build the request from the fixed origin and encoded arguments, inject the credential,
 * send it (timeouts, no redirects, size cap) and classify the answer.
 */
import type { CallSuccess } from '../../core/types.js';
import { classifyResponse } from '../../upstream/classify.js';
import type { HttpClient, UpstreamResponse } from '../../upstream/http-client.js';
import type { OutboundRequest } from '../../upstream/outbound-request.js';
import type { OriginBreakers } from '../../upstream/origin-breakers.js';
import { filterResponseHeaders } from '../../upstream/response-headers.js';
import { SpanKind, failSpan, startChild, traceHeaders, type CallTrace } from '../../observability/tracing.js';
import type { CallContext } from '../call-context.js';
import { UpstreamAuthRejected } from './retry-auth.js';

export function sendTerminal(
  http: HttpClient,
  breakers?: OriginBreakers,
): (ctx: CallContext) => Promise<CallSuccess> {
  return async (ctx) => {
    const tool = ctx.tool;
    const request = tool.buildRequest(ctx.args);
    if (tool.injector !== undefined && ctx.secret !== undefined) {
      const injected = await tool.injector.inject(request, ctx.secret, {
        forceRefresh: ctx.forceRefresh,
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      });
      for (const target of injected) {
        if (!ctx.injected.some((t) => t.value === target.value)) ctx.injected.push(target);
      }
    }
    const exchange = async (): Promise<UpstreamResponse> => {
      const response = await http.send(request, tool.limits, ctx.signal);
      ctx.upstreamStatus = response.status;
      const verdict = classifyResponse(response, { tool: tool.name });
      if (verdict.kind === 'auth-rejected') throw new UpstreamAuthRejected(verdict.status);
      if (verdict.kind === 'error') throw verdict.error;
      return response;
    };
    const send = ctx.trace === undefined ? exchange : tracedExchange(ctx.trace, ctx, request, exchange);
    const response = breakers === undefined ? await send() : await breakers.run(tool.origin, send);
    return {
      status: response.status,
      contentType: response.headers['content-type'],
      headers: filterResponseHeaders(response.headers, tool.responseHeaders),
      body: response.body.toString('utf8'),
    };
  };
}

/**
 * The upstream request as a client span: method, scheme, host and port (never the path or query),
 * the status code; its context goes upstream as `traceparent` (reserved: no tool template sets it).
 */
function tracedExchange(
  callTrace: CallTrace,
  ctx: CallContext,
  request: OutboundRequest,
  exchange: () => Promise<UpstreamResponse>,
): () => Promise<UpstreamResponse> {
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
        'keyward.credential.refetch': ctx.forceRefresh,
      },
      SpanKind.CLIENT,
    );
    const headers = traceHeaders(span);
    request.headers.traceparent = headers.traceparent;
    if (headers.tracestate === undefined) delete request.headers.tracestate;
    else request.headers.tracestate = headers.tracestate;
    // The status of this attempt only (a retry after 401/403 may fail before any answer).
    const previous = ctx.upstreamStatus;
    ctx.upstreamStatus = undefined;
    try {
      const response = await exchange();
      span.setAttribute('http.response.status_code', response.status);
      return response;
    } catch (error) {
      if (ctx.upstreamStatus === undefined) ctx.upstreamStatus = previous;
      else span.setAttribute('http.response.status_code', ctx.upstreamStatus);
      failSpan(span, error, error instanceof UpstreamAuthRejected ? String(error.status) : undefined);
      throw error;
    } finally {
      span.end();
    }
  };
}
