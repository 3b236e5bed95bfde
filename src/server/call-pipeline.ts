/**
 * The composition of the per-call pipeline (DESIGN.md §2), in one place. Adding a step is a
 * one-line change here. Order: audit rejections → validate → authorize → audit call →
 * redact → retry after 401/403 → credential → request/inject/send/classify.
 */
import type { AuditSink } from '../audit/audit-sink.js';
import type { Clock } from '../core/clock.js';
import { composePipeline } from '../core/pipeline.js';
import type { CallSuccess } from '../core/types.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import type { Authorizer } from '../policy/authorizer.js';
import type { CredentialResolver } from '../secrets/credential-resolver.js';
import type { HttpClient } from '../upstream/http-client.js';
import type { CallContext } from './call-context.js';
import { auditCallStep, auditRejectionsStep } from './steps/audit-call.js';
import { authorizeStep } from './steps/authorize.js';
import { credentialStep } from './steps/credential.js';
import { redactStep } from './steps/redact.js';
import { retryAuthStep } from './steps/retry-auth.js';
import { sendTerminal } from './steps/send.js';
import { validateStep } from './steps/validate.js';

export interface PipelineDeps {
  readonly audit: AuditSink;
  readonly authorizer: Authorizer;
  readonly resolver: CredentialResolver;
  readonly http: HttpClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
}

export type CallPipeline = (ctx: CallContext) => Promise<CallSuccess>;

export function buildCallPipeline(deps: PipelineDeps): CallPipeline {
  return composePipeline<CallContext, CallSuccess>(
    [
      auditRejectionsStep(deps.audit, deps.clock, deps.logger),
      validateStep,
      authorizeStep(deps.authorizer),
      auditCallStep(deps.audit, deps.clock, deps.logger),
      redactStep(deps.secrets),
      retryAuthStep(deps.resolver),
      credentialStep(deps.resolver),
    ],
    sendTerminal(deps.http),
  );
}
