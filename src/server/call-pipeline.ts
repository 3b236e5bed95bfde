/**
 * The composition of the per-call pipeline (DESIGN.md §2), in one place, listed in the order the
 * work happens: (trace, when on) → fallback → audit rejections → validate → authorize → audit call
 * → redact (around what follows) → the credential session (resolve → derive + inject → send →
 * classify, one re-fetch and retry after a 401/403; credential-session.ts). Adding a step is a
 * one-line change here.
 */
import type { AuditSink } from '../audit/audit-sink.js';
import type { CompletionSpool } from '../audit/completion-spool.js';
import type { Clock } from '../core/clock.js';
import { composePipeline } from '../core/pipeline.js';
import type { CallSuccess } from '../core/types.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import type { Authorizer } from '../policy/authorizer.js';
import type { CredentialResolver } from '../secrets/credential-resolver.js';
import type { HttpClient } from '../upstream/http-client.js';
import type { OriginBreakers } from '../upstream/origin-breakers.js';
import type { Tracer } from '@opentelemetry/api';
import type { CallContext } from './call-context.js';
import { auditCallStep, auditRejectionsStep } from './steps/audit-call.js';
import { authorizeStep } from './steps/authorize.js';
import { credentialSessionTerminal } from './steps/credential.js';
import { redactStep } from './steps/redact.js';
import { CredentialSession } from './credential-session.js';
import { validateStep } from './steps/validate.js';
import { fallbackStep } from './steps/fallback.js';
import { traceCallStep } from './steps/trace.js';
import type { CompiledTool } from './compiled-tool.js';

export interface PipelineDeps {
  readonly audit: AuditSink;
  readonly authorizer: Authorizer;
  readonly resolver: CredentialResolver;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
  /** Every compiled tool by name, for `fallback: { tool }` (steps/fallback.ts). */
  readonly tools?: ReadonlyMap<string, CompiledTool>;
  /** One circuit breaker per upstream origin. */
  readonly breakers?: OriginBreakers;
  /** Where completion records go when the audit sink fails after the upstream acted. */
  readonly spool?: CompletionSpool;
  /** Set only when tracing is on (observability/tracing.ts): the call span and its children. */
  readonly tracer?: Tracer;
  /** Benchmark-only step switches (benchDisabledSteps); absent in normal operation. */
  readonly benchDisabled?: ReadonlySet<BenchStep>;
}

export type CallPipeline = (ctx: CallContext) => Promise<CallSuccess>;

/** A step the benchmark can switch off to attribute its cost (see benchDisabledSteps). */
export type BenchStep = 'redact' | 'audit' | 'policy' | 'credential-cache';

/**
 * FOR MEASUREMENT ONLY (bench/run.ts): the steps named in the KEYWARD_BENCH_DISABLE environment
 * variable (comma-separated BenchStep names). Read here and nowhere else; unreachable from config
 * or arguments. Unset (always, outside the benchmark) means every step runs.
 */
export function benchDisabledSteps(env: NodeJS.ProcessEnv = process.env): ReadonlySet<BenchStep> {
  const raw = env.KEYWARD_BENCH_DISABLE;
  if (raw === undefined || raw === '') return new Set();
  const known: readonly BenchStep[] = ['redact', 'audit', 'policy', 'credential-cache'];
  return new Set(
    known.filter((step) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .includes(step),
    ),
  );
}

export function buildCallPipeline(deps: PipelineDeps): CallPipeline {
  const off = deps.benchDisabled ?? new Set<BenchStep>();
  const steps = [
    deps.tracer === undefined ? undefined : traceCallStep(deps.tracer),
    fallbackStep(deps, buildCallPipeline),
    off.has('audit') ? undefined : auditRejectionsStep(deps.audit, deps.clock, deps.logger),
    validateStep,
    off.has('policy') ? undefined : authorizeStep(deps.authorizer),
    off.has('audit') ? undefined : auditCallStep(deps.audit, deps.clock, deps.logger, deps.spool),
    off.has('redact') ? undefined : redactStep(deps.secrets),
  ].filter((step) => step !== undefined);
  const session = new CredentialSession({
    resolver: deps.resolver,
    http: deps.http,
    breakers: deps.breakers,
  });
  return composePipeline<CallContext, CallSuccess>(steps, credentialSessionTerminal(session));
}
