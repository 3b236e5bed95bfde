/**
 * Prometheus metrics (prom-client) for /metrics: calls and denials by code, call latency, credential
 * cache hit ratio, secret backend errors and breaker state, HTTP sessions and auth failures.
 * Labels are bounded (configured tool and backend names, catalog codes, fixed enums) and never hold
 * a secret, a token, a session id or an argument value.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorCode } from '../core/errors.js';
import type { CallObserver, Gateway } from '../server/gateway.js';

const DENIAL_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'permission_denied',
  'approval_required',
  'approval_denied',
  'grant_expired',
  'rate_limited',
]);

const BACKEND_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'secret_backend_unavailable',
  'credential_expired',
  'credential_revoked',
  'credential_invalid',
  'credential_not_found',
]);

/** cockatiel CircuitState: 0 closed, 1 open, 2 half-open, 3 isolated. */
type BreakerReader = () => number | undefined;

export interface MetricsOptions {
  /** Also export the process metrics (CPU, memory, event loop lag). Default true. */
  readonly processMetrics?: boolean;
  /**
   * Label calls with their tool name. Default true. Off, every call counts under `tool="*"`: a
   * scraper without the operator's trust learns no tool names (hidden tools included).
   */
  readonly toolNames?: boolean;
}

export class Metrics implements CallObserver {
  readonly registry = new Registry();
  private readonly calls: Counter<'tool' | 'outcome'>;
  private readonly denials: Counter<'code'>;
  private readonly latency: Histogram<'tool'>;
  private readonly backendErrors: Counter<'backend' | 'code'>;
  private readonly sessions: Gauge<'transport'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly cacheLookups: Counter<'result'>;
  private readonly inFlight: Gauge;
  private backendOfTool = new Map<string, string>();
  private gateway: Gateway | undefined;
  private lastCache = { hits: 0, misses: 0, staleServed: 0 };

  private readonly toolNames: boolean;

  constructor(options: MetricsOptions = {}) {
    this.toolNames = options.toolNames ?? true;
    const registers = [this.registry];
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
    this.calls = new Counter({
      name: 'keyward_tool_calls_total',
      help: 'Finished tool calls by tool and outcome (ok or the error code)',
      labelNames: ['tool', 'outcome'],
      registers,
    });
    this.denials = new Counter({
      name: 'keyward_denials_total',
      help: 'Calls refused by policy, approval, grants or rate limits, by error code',
      labelNames: ['code'],
      registers,
    });
    this.latency = new Histogram({
      name: 'keyward_tool_call_duration_seconds',
      help: 'Tool call latency inside keyward, upstream included',
      labelNames: ['tool'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.backendErrors = new Counter({
      name: 'keyward_secret_backend_errors_total',
      help: 'Calls that failed at the credential step, by backend and error code',
      labelNames: ['backend', 'code'],
      registers,
    });
    this.sessions = new Gauge({
      name: 'keyward_http_sessions',
      help: 'Open MCP sessions by HTTP transport',
      labelNames: ['transport'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'keyward_http_auth_failures_total',
      help: 'Refused HTTP requests by reason',
      labelNames: ['reason'],
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'keyward_credential_cache_lookups_total',
      help: 'Credential cache lookups by result (hit, miss, stale)',
      labelNames: ['result'],
      registers,
    });
    // prom-client calls collect() with the metric as `this`; the closures need the Metrics instance.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    new Gauge({
      name: 'keyward_credential_cache_hit_ratio',
      help: 'Fresh cache hits divided by lookups since start',
      registers,
      collect() {
        const stats = self.gateway?.parts.resolver.stats();
        if (stats === undefined) return;
        const lookups = stats.hits + stats.misses;
        this.set(lookups === 0 ? 0 : stats.hits / lookups);
        self.cacheLookups.inc({ result: 'hit' }, stats.hits - self.lastCache.hits);
        self.cacheLookups.inc({ result: 'miss' }, stats.misses - self.lastCache.misses);
        self.cacheLookups.inc({ result: 'stale' }, stats.staleServed - self.lastCache.staleServed);
        self.lastCache = { hits: stats.hits, misses: stats.misses, staleServed: stats.staleServed };
      },
    });
    new Gauge({
      name: 'keyward_secret_backend_breaker_state',
      help: 'Circuit breaker per secret backend: 0 closed, 1 open, 2 half-open, 3 isolated',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const [name, backend] of self.gateway?.parts.backends ?? []) {
          const state = breakerReader(backend)();
          if (state !== undefined) this.set({ backend: name }, state);
        }
      },
    });
    this.inFlight = new Gauge({
      name: 'keyward_tool_calls_in_flight',
      help: 'Tool calls currently running',
      registers,
      collect() {
        if (self.gateway) this.set(self.gateway.inFlightCalls);
      },
    });
  }

  /** Reads cache, breaker and in-flight state from the gateway at scrape time. */
  attach(gateway: Gateway): void {
    this.gateway = gateway;
    const { config } = gateway.parts;
    this.backendOfTool = new Map();
    for (const tool of gateway.parts.tools.values()) {
      const credentialName = config.tools[tool.name]?.credential;
      const backend = credentialName === undefined ? undefined : config.credentials[credentialName]?.backend;
      if (backend !== undefined) this.backendOfTool.set(tool.name, backend);
    }
  }

  callFinished(event: {
    tool: string;
    permission: string;
    errorCode: string | undefined;
    durationMs: number;
  }): void {
    const outcome = event.errorCode ?? 'ok';
    const tool = this.toolNames ? event.tool : '*';
    this.calls.inc({ tool, outcome });
    this.latency.observe({ tool }, Math.max(0, event.durationMs) / 1000);
    if (event.errorCode !== undefined && DENIAL_CODES.has(event.errorCode))
      this.denials.inc({ code: event.errorCode });
    if (event.errorCode !== undefined && BACKEND_CODES.has(event.errorCode)) {
      this.backendErrors.inc({
        backend: this.backendOfTool.get(event.tool) ?? 'unknown',
        code: event.errorCode,
      });
    }
  }

  /** An HTTP request refused before reaching MCP (reason is a fixed enum). */
  authFailure(
    reason: 'missing_token' | 'invalid_token' | 'session_mismatch' | 'host' | 'origin' | 'metrics_token',
  ): void {
    this.authFailures.inc({ reason });
  }

  setSessions(transport: 'streamable-http' | 'sse', count: number): void {
    this.sessions.set({ transport }, count);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The breaker state of a (resilience-wrapped) backend, if it exposes one: a public `breakerState`
 * number, else the cockatiel policy held as `breaker`.
 */
function breakerReader(backend: object): BreakerReader {
  const b = backend as { breakerState?: unknown; breaker?: { state?: unknown } };
  return () => {
    if (typeof b.breakerState === 'number') return b.breakerState;
    const state = b.breaker?.state;
    return typeof state === 'number' ? state : undefined;
  };
}
