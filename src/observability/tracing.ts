/**
 * OpenTelemetry traces on the call path (issue 17), written against `@opentelemetry/api` only.
 *
 * Off by default: the gateway has a Tracer only when tracing was switched on (the standard `OTEL_*`
 * variables, see tracing-sdk.ts, loaded with a dynamic import) or a test handed one in. Without one,
 * no span, context or header is ever built: every step tests `ctx.trace` once and moves on.
 *
 * Nothing secret is ever recorded: span names are fixed strings plus the tool name; attributes are
 * identifiers (tool, permission, agent, tenant, request id, credential id, key id and version),
 * decisions, error codes and status codes; an error sets the status to its catalogue code, never its
 * message (messages may quote upstream text), and no exception or event is recorded. URLs are
 * recorded as scheme, host and port only (a query string may carry a query-injected key).
 *
 * W3C trace context is parsed and formatted here (no global propagator is needed): a client's
 * `params._meta.traceparent` / `tracestate` makes the call span its child, and the upstream request
 * carries a `traceparent` (and `tracestate`) naming the upstream request's span.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  createTraceState,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { isKeywardError } from '../core/errors.js';

/** The trace context a client sent in `params._meta` (raw, bounded strings; parsed here). */
export interface TraceParent {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/** The tracing state of one call: the call's span and the context that has it as parent. */
export interface CallTrace {
  readonly tracer: Tracer;
  readonly span: Span;
  readonly context: Context;
}

/** version-traceid-parentid-flags; version ff is invalid; version 00 has nothing after the flags. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^]*)?$/;
/** Longer inputs are ignored (a traceparent is 55 characters; tracestate has at most 32 members). */
export const MAX_TRACEPARENT_LENGTH = 256;
export const MAX_TRACESTATE_LENGTH = 512;

/** The remote parent named by a W3C traceparent, or undefined when it is absent or malformed. */
export function parseTraceParent(meta: TraceParent | undefined): SpanContext | undefined {
  if (meta === undefined || meta.traceparent.length > MAX_TRACEPARENT_LENGTH) return undefined;
  const match = TRACEPARENT.exec(meta.traceparent.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const context: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & 0x01,
    isRemote: true,
  };
  if (!isSpanContextValid(context)) return undefined;
  const state = meta.tracestate;
  if (state !== undefined && state.length > 0 && state.length <= MAX_TRACESTATE_LENGTH) {
    return { ...context, traceState: createTraceState(state) };
  }
  return context;
}

/** The parent context of a call span: the client's remote span, else a new trace. */
export function remoteParent(meta: TraceParent | undefined): Context {
  const parent = parseTraceParent(meta);
  return parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
}

/** The `traceparent` (and `tracestate`) headers that name `span` as the parent of the receiver's span. */
export function traceHeaders(span: Span): { traceparent: string; tracestate?: string } {
  const sc = span.spanContext();
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${flags}`;
  const state = sc.traceState?.serialize();
  return state === undefined || state === '' ? { traceparent } : { traceparent, tracestate: state };
}

/** A child span of the call span. */
export function startChild(
  callTrace: CallTrace,
  name: string,
  attributes?: Attributes,
  kind: SpanKind = SpanKind.INTERNAL,
): Span {
  return callTrace.tracer.startSpan(
    name,
    attributes === undefined ? { kind } : { kind, attributes },
    callTrace.context,
  );
}

/** Marks a span as failed with the error's catalogue code (never its message). */
export function failSpan(span: Span, error: unknown, type?: string): void {
  const code = type ?? (isKeywardError(error) ? error.code : 'internal_error');
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

export { SpanKind };

/** A started SDK (tracing-sdk.ts): its tracer, and a shutdown that flushes what is left. */
export interface Tracing {
  readonly tracer: Tracer;
  shutdown(): Promise<void>;
}

/**
 * Whether the standard `OTEL_*` variables ask for traces: never with `OTEL_SDK_DISABLED=true`;
 * with `OTEL_TRACES_EXPORTER` set, when it lists `otlp` (the only exporter keyward ships: `console`
 * would write to stdout, the MCP channel on stdio); otherwise when an OTLP endpoint is set
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  if (exporters.length > 0) return exporters.includes('otlp');
  return (
    (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim() !== '' ||
    (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim() !== ''
  );
}
