/**
 * Steps 5–7: build the request from the fixed origin and encoded arguments, inject the credential,
 * send it (timeouts, no redirects, size cap) and classify the answer.
 */
import type { CallSuccess } from '../../core/types.js';
import { classifyResponse } from '../../upstream/classify.js';
import type { HttpClient, UpstreamResponse } from '../../upstream/http-client.js';
import type { OriginBreakers } from '../../upstream/origin-breakers.js';
import { filterResponseHeaders } from '../../upstream/response-headers.js';
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
    const response = breakers === undefined ? await exchange() : await breakers.run(tool.origin, exchange);
    return {
      status: response.status,
      contentType: response.headers['content-type'],
      headers: filterResponseHeaders(response.headers, tool.responseHeaders),
      body: response.body.toString('utf8'),
    };
  };
}
