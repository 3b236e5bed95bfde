/**
 * The composition root: builds every plugin from config (backends, cache, resolver, audit,
 * policy, HTTP client, compiled tools), composes the call pipeline, and serves tool calls for
 * any number of sessions. Picking an implementation happens here and in the registries only.
 */
import { ConsoleLinks } from '../console/console-links.js';
import { ConnectionManager } from '../connections/connection-manager.js';
import { createFlowStore } from '../connections/flow-store-registry.js';
import { randomUUID } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditSink } from '../audit/audit-sink.js';
import { CompletionSpool, spoolPathFor } from '../audit/completion-spool.js';
import { createAuditSink } from '../audit/registry.js';
import { DEFAULTS } from '../config/defaults.js';
import { resolvePath } from '../config/load.js';
import type { CredentialCache } from '../cache/credential-cache.js';
import { createCredentialCache } from '../cache/registry.js';
import type { LoadedConfig } from '../config/load.js';
import type { KeywardConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ConfigError, KeywardError, isKeywardError } from '../core/errors.js';
import type { Principal, Secret } from '../core/types.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import { tracingRequested, type TraceParent, type Tracing } from '../observability/tracing.js';
import type { Tracer } from '@opentelemetry/api';
import type { Authorizer, Elicitor } from '../policy/authorizer.js';
import { BasicAuthorizer } from '../policy/basic-authorizer.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { CredentialResolver } from '../secrets/credential-resolver.js';
import { createSecretBackend } from '../secrets/registry.js';
import { withResilience } from '../secrets/resilient-backend.js';
import type { SecretBackend } from '../secrets/secret-backend.js';
import { createHttpClient, type HttpClient } from '../upstream/http-client.js';
import { OriginBreakers } from '../upstream/origin-breakers.js';
import { loadToolSources } from '../openapi/tool-sources.js';
import { WebhookNotifier } from '../observability/notifier.js';
import { initialCallState, type CallContext } from './call-context.js';
import { benchDisabledSteps, buildCallPipeline, type CallPipeline } from './call-pipeline.js';
import { compileTools } from './compile-tools.js';
import type { CompiledTool } from './compiled-tool.js';
import type { MetaTool } from '../policy/meta-tools.js';
import { errorResult, successResult } from './tool-result.js';
import { compileRefTemplate } from '../secrets/ref-template.js';
import { principalKey, type InFlightLimiter } from '../policy/in-flight-limiter.js';

export interface GatewayDeps {
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
  readonly clock?: Clock;
  /** Replaces the authorizer built from config (the capabilities layer plugs in here). */
  readonly authorizer?: (config: KeywardConfig, parts: GatewayParts) => Promise<Authorizer> | Authorizer;
  /** Told about every finished call (metrics). Must not throw or block. */
  readonly observer?: CallObserver;
  /** Meta-tools served beside the configured tools. */
  readonly metaTools?: (parts: GatewayParts & { authorizer: Authorizer }) => readonly MetaTool[];
  /** Told the gateway once it is built (plug-ins that call notifyToolListChanged). */
  readonly onCreated?: (gateway: Gateway) => void;
  /**
   * Traces every tool call with this tracer (tests). Without it, tracing is on only when the
   * standard `OTEL_*` variables ask for it (the SDK is then loaded, and shut down by close()).
   */
  readonly tracer?: Tracer;
  /** Where `OTEL_*` is read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

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

  private constructor(
    readonly parts: GatewayParts,
    readonly authorizer: Authorizer,
    private readonly http: HttpClient,
    private readonly pipeline: CallPipeline,
    metaTools: readonly MetaTool[],
    private readonly observer: CallObserver | undefined,
    private readonly tracing: Tracing | undefined,
  ) {
    this.metaByName = new Map(metaTools.map((t) => [t.definition.name, t]));
  }

  static async create(loaded: LoadedConfig, deps: GatewayDeps): Promise<Gateway> {
    const { config, baseDir } = loaded;
    const logger = deps.logger;
    const clock = deps.clock ?? systemClock;
    const closers: (() => Promise<void>)[] = [];
    try {
      const backends = new Map<string, SecretBackend>();
      for (const [name, backendConfig] of Object.entries(config.backends)) {
        const backend = await createSecretBackend(name, backendConfig, { logger, clock, baseDir });
        closers.push(() => backend.close());
        backends.set(name, withResilience(backend, backendConfig, { logger, clock, name }));
      }
      const benchDisabled = benchDisabledSteps();
      if (benchDisabled.size > 0)
        logger.warn({ disabled: [...benchDisabled] }, 'KEYWARD_BENCH_DISABLE: measurement only');
      const realCache = await createCredentialCache(config.cache, { logger, clock, baseDir });
      closers.push(() => realCache.close());
      const cache = benchDisabled.has('credential-cache') ? uncachedForBench(realCache) : realCache;
      const audit = await createAuditSink(config.audit, { logger, clock, baseDir });
      closers.push(() => audit.close());
      const flows = await createFlowStore(config, { clock, logger, baseDir });
      if (flows !== undefined) closers.push(() => flows.close());
      const connections = new ConnectionManager({
        config,
        backends,
        audit,
        clock,
        logger,
        secrets: deps.secrets,
        ...(flows === undefined ? {} : { flows }),
      });
      const resolver = new CredentialResolver({
        credentials: config.credentials,
        backends,
        cache,
        clock,
        logger,
        ...(connections.enabled ? { delegate: connections } : {}),
      });
      const spool = new CompletionSpool(
        spoolPathFor(config.audit, resolvePath(DEFAULTS.home, baseDir)),
        logger,
      );
      await spool.replay(audit).catch(() => undefined);
      if (config.toolSources.length > 0) {
        Object.assign(config.tools, await loadToolSources(config, { logger, baseDir }));
      }
      const tools = compileTools(config, {
        oauth2: (credentialId) => ({
          credentialName: credentialId,
          logger,
          clock,
          rotate: refreshTokenWriter(config, credentialId, backends, resolver),
        }),
      });
      const notifier = new WebhookNotifier({ config: config.notifier, logger, clock });
      const parts: GatewayParts = {
        config,
        baseDir,
        logger,
        clock,
        audit,
        cache,
        resolver,
        backends,
        tools,
        notifier,
        consoleLinks: new ConsoleLinks(config.console.operators.length > 0, config.console.publicUrl),
        connections,
      };
      const authorizer = deps.authorizer
        ? await deps.authorizer(config, parts)
        : new BasicAuthorizer(new PolicyEngine(config.policy.rules));
      let tracing: Tracing | undefined;
      if (deps.tracer === undefined && tracingRequested(deps.env ?? process.env)) {
        // The SDK is loaded only here: with tracing off, the call path never builds a span.
        const { startTracing } = await import('../observability/tracing-sdk.js');
        const started = startTracing({ env: deps.env ?? process.env, logger, secrets: deps.secrets });
        closers.push(() => started.shutdown());
        tracing = started;
      }
      const tracer = deps.tracer ?? tracing?.tracer;
      const http = createHttpClient();
      const pipeline = buildCallPipeline({
        ...{
          audit,
          authorizer,
          resolver,
          http,
          clock,
          logger,
          secrets: deps.secrets,
          tools,
          spool,
          breakers: new OriginBreakers(config.upstream.breaker),
        },
        ...(tracer === undefined ? {} : { tracer }),
        benchDisabled,
      });
      const metaTools = deps.metaTools ? deps.metaTools({ ...parts, authorizer }) : [];
      const gateway = new Gateway(parts, authorizer, http, pipeline, metaTools, deps.observer, tracing);
      deps.onCreated?.(gateway);
      return gateway;
    } catch (error) {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      if (error instanceof ConfigError) throw error;
      throw error;
    }
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
      const permission = this.parts.tools.get(name)?.permission ?? 'keyward:meta';
      return errorResult(busy, { tool: name, permission, requestId: randomUUID() });
    }
    try {
      return await this.runCall(name, rawArgs, options);
    } finally {
      await limiter.release(key, lease);
    }
  }

  private async runCall(name: string, rawArgs: unknown, options: CallOptions): Promise<CallToolResult> {
    const requestId = randomUUID();
    const meta = this.metaByName.get(name);
    if (meta !== undefined) {
      const args =
        rawArgs !== null && typeof rawArgs === 'object' ? (rawArgs as Record<string, unknown>) : {};
      return meta.call(args, {
        principal: options.principal,
        sessionId: options.sessionId,
        elicitor: options.elicitor,
        requestId,
      });
    }
    const tool = this.parts.tools.get(name);
    if (tool === undefined) throw new Error(`unknown tool ${name}`);
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
    if (this.closed) {
      const stopping = new KeywardError('internal_error', 'keyward is shutting down; retry shortly');
      return errorResult(stopping, { tool: name, permission: tool.permission, requestId });
    }
    this.inFlight++;
    let errorCode: string | undefined;
    try {
      return successResult(await this.pipeline(ctx));
    } catch (error) {
      errorCode = isKeywardError(error) ? error.code : 'internal_error';
      if (!isKeywardError(error)) {
        this.parts.logger.error(
          { requestId, tool: name, err: describeInternal(error) },
          'internal error in tool call',
        );
      }
      return errorResult(error, { tool: name, permission: tool.permission, requestId });
    } finally {
      if (errorCode !== undefined)
        this.alertOn(errorCode, name, tool.permission, options.principal, requestId);
      this.observer?.callFinished({
        tool: name,
        permission: tool.permission,
        errorCode,
        durationMs: this.parts.clock.now() - ctx.startedAt,
      });
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.drainWaiters.splice(0)) wake();
    }
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
  async close(): Promise<void> {
    this.closed = true;
    await this.http.close().catch(() => undefined);
    await this.parts.notifier.flush().catch(() => undefined);
    await this.parts.audit.flush().catch(() => undefined);
    await this.parts.audit.close().catch(() => undefined);
    await this.parts.resolver.close?.().catch(() => undefined);
    await this.parts.cache.close().catch(() => undefined);
    await this.parts.connections.close().catch(() => undefined);
    for (const backend of this.parts.backends.values()) await backend.close().catch(() => undefined);
    // Last: the spans of the calls that just finished are exported before the process exits.
    await this.tracing?.shutdown().catch(() => undefined);
  }
}

/** Benchmark only (KEYWARD_BENCH_DISABLE=credential-cache): every lookup misses. */
function uncachedForBench(inner: CredentialCache): CredentialCache {
  return {
    kind: `${inner.kind}(bench: off)`,
    get: () => Promise.resolve(undefined),
    set: () => Promise.resolve(),
    invalidate: () => Promise.resolve(),
    probe: () => inner.probe(),
    close: () => inner.close(),
  };
}

/** The tools/list cache key: the list depends on roles too. */
function listKey(p: Principal): string {
  return `${p.agent}\u0000${p.tenant}\u0000${p.roles.join(',')}`;
}

/** Internal errors are logged by type and message only; the logger scrubs registered secrets. */
function describeInternal(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}

/**
 * Writes a refresh token the OAuth2 server rotated back to the backend as a new version, keeping
 * the secret's other fields. Only for refs that do not depend on the principal (a templated ref
 * cannot be told apart from the token alone) on backends that store the secret as one JSON string;
 * elsewhere the rotated token lives in this process only (and a warning is logged).
 */
function refreshTokenWriter(
  config: KeywardConfig,
  credentialId: string,
  backends: ReadonlyMap<string, SecretBackend>,
  resolver: CredentialResolver,
): ((next: string, secret: Secret) => Promise<void>) | undefined {
  const credential = config.credentials[credentialId];
  if (credential === undefined || credential.inject.type !== 'oauth2-refresh-token') return undefined;
  if (compileRefTemplate(credential.ref).templated) return undefined;
  const backend = backends.get(credential.backend);
  if (backend?.rotate === undefined || !backend.storesOneString) return undefined;
  const field = credential.inject.refreshTokenField;
  return async (next, secret) => {
    await backend.rotate?.(credential.ref, JSON.stringify({ ...secret.fields, [field]: next }));
    await resolver.invalidateRef(credential.backend, credential.ref);
  };
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
