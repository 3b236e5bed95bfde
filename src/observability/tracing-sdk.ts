/**
 * The OpenTelemetry SDK, loaded with a dynamic import only when tracing is switched on
 * (`tracingRequested`, from the standard `OTEL_*` variables): a BasicTracerProvider with a batch
 * processor and the OTLP/HTTP (JSON) exporter, which read their own `OTEL_BSP_*`,
 * `OTEL_TRACES_SAMPLER*`, `OTEL_EXPORTER_OTLP_*` variables. The provider is not registered
 * globally: the gateway hands its tracer to the pipeline (observability/tracing.ts).
 */
import { diag, DiagLogLevel, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger, SecretRegistry } from './logger.js';
import type { Tracing } from './tracing.js';

/** Values of `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` (collector API keys): never in a log line. */
function headerValues(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const values: string[] = [];
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const value = pair.slice(eq + 1).trim();
    values.push(value);
    try {
      values.push(decodeURIComponent(value));
    } catch {
      // not URL-encoded
    }
  }
  return values;
}

/** Where spans go, for the startup log line: the origin only. */
function exportOrigin(env: NodeJS.ProcessEnv): string {
  const raw =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318';
  try {
    return new URL(raw).origin;
  } catch {
    return 'an unparseable endpoint';
  }
}

export function startTracing(options: {
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
}): Tracing {
  const { env, logger, secrets } = options;
  for (const value of [
    ...headerValues(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...headerValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
  ]) {
    secrets.add(value);
  }
  // The SDK's own complaints (an unreachable collector, a rejected export) go to keyward's log.
  diag.setLogger(
    {
      error: (message, ...args) => logger.warn({ detail: args.map(String).join(' ') }, `otel: ${message}`),
      warn: (message, ...args) => logger.warn({ detail: args.map(String).join(' ') }, `otel: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol !== undefined && protocol !== 'http/json') {
    logger.warn({ protocol }, 'otel: keyward exports traces as OTLP/HTTP JSON only (http/json)');
  }
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'keyward' }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  logger.info(
    { serviceName: resource.attributes[ATTR_SERVICE_NAME], to: exportOrigin(env) },
    'tracing on: OTLP/HTTP',
  );
  let stopped: Promise<void> | undefined;
  return {
    tracer: provider.getTracer('keyward') as Tracer,
    shutdown: () => {
      stopped ??= provider.shutdown().catch((error: unknown) => {
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'otel: shutdown failed');
      });
      return stopped;
    },
  };
}
