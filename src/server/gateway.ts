/**
 * The Gateway runs tool calls for any number of sessions: tools/list per principal, one entry for
 * every call (configured tools, meta-tools), drain accounting and shutdown. It builds nothing:
 * compose.ts (the composition root) hands it its parts and the one stack of closers.
 */
import type { ConsoleLinks } from '../console/console-links.js';
import { randomUUID } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditSink } from '../audit/audit-sink.js';
import type { CredentialCache } from '../cache/credential-cache.js';
import type { KeywardConfig } from '../config/schema.js';
import { type Clock } from '../core/clock.js';
import { ConfigError, KeywardError, isKeywardError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { Logger } from '../observability/logger.js';
import { type TraceParent } from '../observability/tracing.js';
import type { Authorizer, Elicitor } from '../policy/authorizer.js';
import type { CredentialResolver } from '../secrets/credential-resolver.js';
import type { SecretBackend } from '../secrets/secret-backend.js';
import type { WebhookNotifier } from '../observability/notifier.js';
import { initialCallState, type CallContext } from './call-context.js';
import { type CallPipeline } from './call-pipeline.js';
import type { CompiledTool } from './compiled-tool.js';
import { META_PERMISSION, type MetaTool } from '../policy/meta-tools.js';
import { auditEvent } from '../core/audit-events.js';
import { rejectionFields } from './steps/audit-call.js';
import {
  checkArgumentSize,
  createValidatorFactory,
  strictInputSchema,
  type ArgumentValidator,
} from './argument-validator.js';
import { errorResult, successResult } from './tool-result.js';
import { principalKey, type InFlightLimiter } from '../policy/in-flight-limiter.js';
import type { ConnectionManager } from '../connections/connection-manager.js';

/** The pieces a plug-in (authorizer, meta-tools, HTTP transport) may need. */
export interface GatewayParts {
  readonly config: KeywardConfig;
  readonly baseDir: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly audit: AuditSink;
  readonly cache: CredentialCache;
  readonly resolver: CredentialResolver;
  readonly backends: ReadonlyMap<string, SecretBackend>;
  readonly tools: ReadonlyMap<string, CompiledTool>;
  /** Alerts: the log always, plus the configured webhook. */
  readonly notifier: WebhookNotifier;
  /** Links into the approval console (its address is learned when it starts listening). */
  readonly consoleLinks: ConsoleLinks;
  /** Per-user OAuth connections (src/connections/): the /oauth pages and the token vault. */
  readonly connections: ConnectionManager;
}

export interface CallObserver {
  callFinished(event: {
    tool: string;
    permission: string;
    errorCode: string | undefined;
    durationMs: number;
  }): void;
}

export interface CallOptions {
  readonly principal: Principal;
  readonly sessionId: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly elicitor: Elicitor | undefined;
  /** Remote mode: at most so many calls of one principal run at once (http.maxInFlightPerPrincipal). */
  readonly inFlightLimiter?: InFlightLimiter;
  /** W3C trace context from `params._meta` (followed only when tracing is on). */
  readonly traceParent?: TraceParent | undefined;
}

export class Gateway {
  private inFlight = 0;
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  private readonly listeners = new Set<{ principal: Principal; notify: () => void }>();
  private readonly listCache = new Map<string, Tool[]>();
  private readonly metaByName: ReadonlyMap<string, MetaTool>;
  private readonly metaValidators = new Map<MetaTool, ArgumentValidator>();
  private validatorFor: ReturnType<typeof createValidatorFactory> | undefined;

  constructor(
    readonly parts: GatewayParts,
    readonly authorizer: Authorizer,
    private readonly pipeline: CallPipeline,
    metaTools: readonly MetaTool[],
    private readonly observer: CallObserver | undefined,
    /** Closes everything the composition root built, in reverse order (compose.ts). */
    private readonly closeAll: () => Promise<void>,
  ) {
    this.metaByName = new Map(metaTools.map((t) => [t.definition.name, t]));
  }

  hasTool(name: string): boolean {
    return this.parts.tools.has(name) || this.metaByName.has(name);
  }

  /** tools/list for a principal: meta-tools plus the tools it could ever use (unless configured otherwise). */
  listTools(principal: Principal): Tool[] {
    const key = listKey(principal);
    let list = this.listCache.get(key);
    if (list === undefined) {
      list = [...this.metaByName.values()].map((t) => t.definition);
      for (const tool of this.parts.tools.values()) {
        if (
          !this.parts.config.policy.hideUnusableTools ||
          this.authorizer.canEverUse(principal, tool.name, tool.permission)
        ) {
          list.push(tool.definition);
        }
      }
      this.listCache.set(key, list);
    }
    return list;
  }

  /** Tells sessions their tool list may have changed (grants changed). */
  notifyToolListChanged(): void {
    this.listCache.clear();
    for (const listener of this.listeners) listener.notify();
  }

  onToolListChanged(principal: Principal, notify: () => void): () => void {
    const entry = { principal, notify };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  async callTool(name: string, rawArgs: unknown, options: CallOptions): Promise<CallToolResult> {
    const limiter = options.inFlightLimiter;
    if (limiter === undefined) return this.runCall(name, rawArgs, options);
    const key = principalKey(options.principal);
    const lease = await limiter.tryAcquire(key);
    if (lease === undefined) {
      const busy = new KeywardError(
        'rate_limited',
        `${limiter.max} calls of this agent are already running; retry when one has finished`,
        { retryAfterSeconds: 1 },
      );
      const permission = this.parts.tools.get(name)?.permission ?? META_PERMISSION;
      const requestId = randomUUID();
      await this.auditRefusal(busy, name, permission, requestId, options, this.parts.clock.now());
      return errorResult(busy, { tool: name, permission, requestId });
    }
    try {
      return await this.runCall(name, rawArgs, options);
    } finally {
      await limiter.release(key, lease);
    }
  }

  /** The one entry of every call, configured tool or meta-tool. */
  private runCall(name: string, rawArgs: unknown, options: CallOptions): Promise<CallToolResult> {
    const requestId = randomUUID();
    const meta = this.metaByName.get(name);
    if (meta !== undefined) {
      return this.counted(name, META_PERMISSION, requestId, options, () =>
        this.runMeta(meta, rawArgs, options, requestId),
      );
    }
    const tool = this.parts.tools.get(name);
    if (tool === undefined) throw new Error(`unknown tool ${name}`);
    return this.counted(name, tool.permission, requestId, options, async () => {
      const ctx: CallContext = {
        requestId,
        startedAt: this.parts.clock.now(),
        principal: options.principal,
        tool,
        rawArgs,
        sessionId: options.sessionId,
        signal: options.signal,
        elicitor: options.elicitor,
        traceParent: options.traceParent,
        ...initialCallState(),
      };
      return successResult(await this.pipeline(ctx), tool.config.structuredBodyMaxBytes);
    });
  }

  /**
   * What every call shares: refused once shutdown began, counted while it runs (drain waits for it,
   * an approval elicitation included), every failure in the one error shape, alerts, metrics.
   */
  private async counted(
    name: string,
    permission: string,
    requestId: string,
    options: CallOptions,
    run: () => Promise<CallToolResult>,
  ): Promise<CallToolResult> {
    if (this.closed) {
      const stopping = new KeywardError('internal_error', 'keyward is shutting down; retry shortly');
      await this.auditRefusal(stopping, name, permission, requestId, options, this.parts.clock.now());
      return errorResult(stopping, { tool: name, permission, requestId });
    }
    const startedAt = this.parts.clock.now();
    this.inFlight++;
    let errorCode: string | undefined;
    try {
      return await run();
    } catch (error) {
      errorCode = isKeywardError(error) ? error.code : 'internal_error';
      if (!isKeywardError(error)) {
        this.parts.logger.error(
          { requestId, tool: name, err: describeInternal(error) },
          'internal error in tool call',
        );
      }
      return errorResult(error, { tool: name, permission, requestId });
    } finally {
      if (errorCode !== undefined) this.alertOn(errorCode, name, permission, options.principal, requestId);
      this.observer?.callFinished({
        tool: name,
        permission,
        errorCode,
        durationMs: this.parts.clock.now() - startedAt,
      });
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.drainWaiters.splice(0)) wake();
    }
  }

  /**
   * A meta-tool call: the same argument checks as a configured tool (size, the tool's JSON Schema,
   * strictly), then the tool; a refusal is recorded as call.rejected, as the pipeline records one
   * (best effort: nothing was sent upstream).
   */
  private async runMeta(
    meta: MetaTool,
    rawArgs: unknown,
    options: CallOptions,
    requestId: string,
  ): Promise<CallToolResult> {
    const startedAt = this.parts.clock.now();
    try {
      checkArgumentSize(rawArgs);
      const args = this.metaValidator(meta)(rawArgs);
      return await meta.call(args, {
        principal: options.principal,
        sessionId: options.sessionId,
        elicitor: options.elicitor,
        requestId,
      });
    } catch (error) {
      await this.auditRefusal(error, meta.definition.name, META_PERMISSION, requestId, options, startedAt);
      throw error;
    }
  }

  /**
   * A call refused before it started (a meta-tool's refusal, the in-flight limit, shutdown) as
   * call.rejected, as the pipeline records its own refusals: best effort, since nothing reached
   * the upstream; a trail that cannot take it (closed at shutdown) is logged, not thrown.
   */
  private async auditRefusal(
    error: unknown,
    tool: string,
    permission: string,
    requestId: string,
    options: CallOptions,
    startedAt: number,
  ): Promise<void> {
    try {
      const now = this.parts.clock.now();
      const refusal = auditEvent(
        'call.rejected',
        now,
        {
          requestId,
          sessionId: options.sessionId,
          agent: options.principal.agent,
          tenant: options.principal.tenant,
          user: options.principal.user,
          tool,
          permission,
        },
        rejectionFields(error, now - startedAt),
      );
      await this.parts.audit.append(refusal);
    } catch (auditError) {
      this.parts.logger.error({ requestId, err: String(auditError) }, 'audit: could not record a rejection');
    }
  }

  /** Meta-tool validators, compiled on first use (most sessions never call one; start-up stays lean). */
  private metaValidator(meta: MetaTool): ArgumentValidator {
    let validate = this.metaValidators.get(meta);
    if (validate === undefined) {
      this.validatorFor ??= createValidatorFactory();
      validate = this.validatorFor(
        strictInputSchema(meta.definition.inputSchema),
        `${meta.definition.name}.input`,
      );
      this.metaValidators.set(meta, validate);
    }
    return validate;
  }

  /** High-severity outcomes become alerts (the log always; the webhook when configured). */
  private alertOn(
    code: string,
    tool: string,
    permission: string,
    principal: Principal,
    requestId: string,
  ): void {
    const type =
      code === 'credential_revoked'
        ? 'credential.revoked'
        : code === 'audit_unavailable'
          ? 'audit.failure'
          : undefined;
    if (type === undefined) return;
    this.parts.notifier.notify({
      type,
      message:
        type === 'credential.revoked'
          ? `the credential of tool ${tool} was revoked at its backend`
          : `the audit trail could not record a call to ${tool}; calls are refused until it recovers`,
      agent: principal.agent,
      tenant: principal.tenant,
      tool,
      permission,
      details: { requestId },
    });
  }

  get inFlightCalls(): number {
    return this.inFlight;
  }

  /** Stops taking calls and waits (up to timeoutMs) for in-flight ones to finish. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    if (this.inFlight === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Closes everything in reverse build order; flushes the audit trail. */
  /** No call starts from now on (calls already running go on; see drain). */
  stopAccepting(): void {
    this.closed = true;
  }

  /** Closes the whole composition (compose.ts): audit flushed, stores, caches, backends, tracing. */
  async close(): Promise<void> {
    this.closed = true;
    await this.closeAll();
  }
}

/** The tools/list cache key: the list depends on roles too. */
function listKey(p: Principal): string {
  return `${p.agent}\u0000${p.tenant}\u0000${p.roles.join(',')}`;
}

/** Internal errors are logged by type and message only; the logger scrubs registered secrets. */
function describeInternal(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}

export function principalFromConfig(config: KeywardConfig, agentName: string | undefined): Principal {
  const name = agentName ?? config.identity.stdio?.agent ?? Object.keys(config.agents)[0];
  if (name === undefined)
    throw new ConfigError('no agent configured: add one under "agents" and identity.stdio');
  const agent = config.agents[name];
  if (agent === undefined)
    throw new ConfigError(`unknown agent "${name}"`, [{ path: 'agents', message: `no agent "${name}"` }]);
  return {
    agent: name,
    tenant: agent.tenant,
    ...(config.identity.stdio?.user === undefined || config.identity.stdio.agent !== name
      ? {}
      : { user: config.identity.stdio.user }),
    roles: agent.roles,
    attributes: agent.attributes,
    authMethod: 'stdio',
  };
}
