/**
 * The outbound HTTP client: one keep-alive undici Pool per origin, no redirect following, connect /
 * headers / total deadlines and a streamed byte cap. Errors become catalogued KeywardErrors whose
 * messages never carry the URL (its query string may hold a query-injected key).
 */
import type { Dispatcher } from 'undici';
import { Pool } from './undici-pool.js';
import { KeywardError } from '../core/errors.js';
import type { OutboundRequest } from './outbound-request.js';
import { quoteUpstreamText } from './upstream-text.js';

export interface SendLimits {
  /** TCP/TLS connect deadline. */
  readonly connectMs: number;
  /** Deadline for the response headers after the request was sent. */
  readonly headersMs: number;
  /** Deadline for the whole call, body included. */
  readonly totalMs: number;
  /** The response body is aborted past this many bytes. */
  readonly maxResponseBytes: number;
}

export interface UpstreamResponse {
  status: number;
  /** Lowercase names; repeated headers joined with ", ". Unfiltered: apply filterResponseHeaders. */
  headers: Record<string, string>;
  body: Buffer;
  durationMs: number;
}

export interface HttpClient {
  /** Sends `request` (which must already carry its credential). Throws KeywardError on failure. */
  send(request: OutboundRequest, limits: SendLimits, signal?: AbortSignal): Promise<UpstreamResponse>;
  /** Closes every pool; in-flight requests finish first. */
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** Concurrent connections per origin. Default 64. */
  connectionsPerOrigin?: number;
  /** How long an idle keep-alive socket is kept. Default 4 s (below common upstream idle timeouts). */
  keepAliveTimeoutMs?: number;
  /** Extra TLS options for the connector (e.g. a test CA). */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
}

type AbortCause = { kind: 'deadline' } | { kind: 'caller'; reason: unknown };

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy eyeballs (autoSelectFamily) wraps per-address failures in an AggregateError.
  const inner = (error as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const e of inner) if (errorCode(e) !== undefined) return errorCode(e);
  const cause = (error as { cause?: unknown }).cause;
  return cause === error ? undefined : errorCode(cause);
}

function mapError(
  error: unknown,
  aborted: AbortCause | undefined,
  limits: SendLimits,
  where: string,
): KeywardError {
  if (error instanceof KeywardError) return error;
  if (aborted?.kind === 'deadline') {
    return new KeywardError('upstream_timeout', `upstream total deadline of ${limits.totalMs} ms exceeded`, {
      detail: where,
    });
  }
  if (aborted?.kind === 'caller') {
    const reason = aborted.reason;
    if (reason instanceof KeywardError) return reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      return new KeywardError('upstream_timeout', 'the call deadline passed during the upstream request', {
        detail: where,
      });
    }
    return new KeywardError('upstream_error', 'the upstream request was cancelled', { detail: where });
  }
  const code = errorCode(error) ?? (parserError(error) === undefined ? 'unknown' : 'HTTPParserError');
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new KeywardError('upstream_timeout', `upstream connect timeout after ${limits.connectMs} ms`, {
        detail: where,
      });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new KeywardError(
        'upstream_timeout',
        `no upstream response headers within ${limits.headersMs} ms`,
        {
          detail: where,
        },
      );
    case 'UND_ERR_BODY_TIMEOUT':
      return new KeywardError('upstream_timeout', `upstream body stalled for ${limits.totalMs} ms`, {
        detail: where,
      });
    default: {
      // Only the code or a fixed text: undici messages and causes may quote the URL (and a
      // query-injected key), and a parser error carries the upstream's raw bytes in `data`.
      const message = RESPONSE_FAILURES[code] ?? notHttp(error);
      return new KeywardError('upstream_error', message ?? `upstream request failed (${code})`, {
        detail: `${where}: ${code}`,
      });
    }
  }
}

function parserError(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e.name === 'HTTPParserError') return e;
  }
  return undefined;
}

/** Failures of the upstream's response (not of the network), named so an operator can act on them. */
const RESPONSE_FAILURES: Readonly<Record<string, string>> = {
  UND_ERR_SOCKET: 'the upstream closed the connection before its response was complete',
  UND_ERR_HEADERS_OVERFLOW: "the upstream's response headers are larger than keyward accepts",
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: "the upstream's response body does not match its Content-Length",
};

/**
 * A response that is not HTTP/1.1 (undici's HTTPParserError, which has no code): its reason is
 * llhttp's fixed text ("Invalid header token"); anything else in that place is left out.
 */
function notHttp(error: unknown): string | undefined {
  const parser = parserError(error);
  if (parser === undefined) return undefined;
  const reason = /\(([A-Za-z][A-Za-z ,:/`'-]{0,60})\)$/.exec(parser.message)?.[1];
  return `the upstream's response is not valid HTTP/1.1${reason === undefined ? '' : ` (${reason})`}`;
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const pools = new Map<string, Pool>();
  let closed = false;

  function poolFor(origin: string, connectMs: number): Pool {
    const key = `${origin} ${connectMs}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: options.connectionsPerOrigin ?? 64,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
        pipelining: 1,
        connect: { timeout: connectMs, ...(options.tls ?? {}) },
      });
      pools.set(key, pool);
    }
    return pool;
  }

  async function send(
    request: OutboundRequest,
    limits: SendLimits,
    signal?: AbortSignal,
  ): Promise<UpstreamResponse> {
    if (closed) throw new KeywardError('upstream_error', 'the HTTP client is closed');
    const url = request.url;
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new KeywardError('upstream_error', `unsupported protocol ${url.protocol}`);
    }
    // Never the query string in anything that may be logged.
    const where = `${request.method} ${url.origin}${url.pathname}`;
    const started = performance.now();

    const pool = poolFor(url.origin, limits.connectMs);
    const cap = limits.maxResponseBytes;
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let aborted: AbortCause | undefined;
      let settled = false;
      // undici hands the request's controller over once the request is on a socket; an abort
      // before then is kept and applied at that point.
      let upstream: Dispatcher.DispatchController | undefined;
      let pendingAbort: Error | undefined;
      let status = 0;
      let headers: Record<string, string> = {};
      const chunks: Buffer[] = [];
      let size = 0;

      const settle = (error: unknown, response?: UpstreamResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onCallerAbort);
        if (response !== undefined) resolve(response);
        else reject(mapError(error, aborted, limits, where));
      };
      /** Stops the exchange (the socket is closed) and settles the call with `error`. */
      const stop = (error: Error): void => {
        if (upstream === undefined) pendingAbort ??= error;
        else if (!upstream.aborted) upstream.abort(error);
        settle(error);
      };
      const timer = setTimeout(() => {
        aborted ??= { kind: 'deadline' };
        stop(
          new KeywardError('upstream_timeout', `upstream total deadline of ${limits.totalMs} ms exceeded`),
        );
      }, limits.totalMs);
      const onCallerAbort = (): void => {
        aborted ??= { kind: 'caller', reason: signal?.reason };
        stop(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal?.aborted) {
        onCallerAbort();
        return;
      }
      signal?.addEventListener('abort', onCallerAbort, { once: true });

      pool.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: request.method as Dispatcher.HttpMethod,
          headers: request.headers,
          body: request.body ?? null,
          headersTimeout: limits.headersMs,
          bodyTimeout: limits.totalMs,
        },
        {
          onRequestStart(controller) {
            upstream = controller;
            if (pendingAbort !== undefined) controller.abort(pendingAbort);
          },
          onResponseStart(_controller, statusCode, rawHeaders) {
            if (statusCode < 200) return; // 1xx informational: the final answer follows
            status = statusCode;
            headers = flattenHeaders(rawHeaders);
            const declared = Number(headers['content-length']);
            if (Number.isFinite(declared) && declared > cap) {
              stop(
                new KeywardError('response_too_large', `the upstream response is over the ${cap}-byte cap`, {
                  detail: `${where}: content-length ${declared}`,
                }),
              );
              return;
            }
            // The redactor works on text: a compressed body would carry an echoed key past it. Fail
            // closed. The value is the upstream's: compared case-insensitively, quoted as sent
            // (bounded, no controls), so the redactor sees it in its original case.
            const encoding = headers['content-encoding']?.trim();
            const identity =
              encoding === undefined || encoding === '' || encoding.toLowerCase() === 'identity';
            if (!identity && request.method !== 'HEAD') {
              stop(
                new KeywardError(
                  'upstream_error',
                  `upstream sent a body with Content-Encoding ${quoteUpstreamText(encoding)}; only identity is accepted`,
                  { detail: where },
                ),
              );
            }
          },
          onResponseData(_controller, chunk) {
            if (settled) return;
            size += chunk.length;
            if (size > cap) {
              stop(
                new KeywardError('response_too_large', `the upstream response is over the ${cap}-byte cap`, {
                  detail: where,
                }),
              );
              return;
            }
            chunks.push(chunk);
          },
          onResponseEnd() {
            settle(undefined, {
              status,
              headers,
              body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
              durationMs: performance.now() - started,
            });
          },
          onResponseError(_controller, error) {
            settle(error);
          },
        },
      );
    });
  }

  async function close(): Promise<void> {
    closed = true;
    const all = [...pools.values()];
    pools.clear();
    await Promise.all(all.map((pool) => pool.close()));
  }

  return { send, close };
}
