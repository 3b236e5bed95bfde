/**
 * The composition root (issue 13): the one place that builds keyward from a loaded config.
 * Every plugin comes from its registry (backends, cache, audit sink, grant store, rate limiter),
 * the capabilities layer (authorizer, meta-tools) is always the configured one, and every part
 * that holds a resource pushes its closer on one stack, closed in reverse order by `close()` (or
 * `gateway.close()`, which runs the same stack). `serve`, `serve --http`, `check` (through
 * `compileConfiguredTools`), the benchmark and the tests all start here.
 *
 * Creation order (so the reverse is the right closing order): tracing (shut down last, after the
 * last spans) → secret backends → credential cache → audit sink → connections → resolver (+ spool replay) →
 * compiled tools → notifier → grant store and rate limiter → HTTP client → gateway.
 */
import type { Tracer } from '@opentelemetry/api';
import { CompletionSpool, spoolPathFor } from '../audit/completion-spool.js';
import { createAuditSink } from '../audit/registry.js';
import type { CredentialCache } from '../cache/credential-cache.js';
import { createCredentialCache } from '../cache/registry.js';
import { ConsoleLinks } from '../console/console-links.js';
import { ConnectionManager } from '../connections/connection-manager.js';
import { createFlowStore } from '../connections/flow-store-registry.js';
import { DEFAULTS } from '../config/defaults.js';
import { resolvePath, type LoadedConfig } from '../config/load.js';
import type { KeywardConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Secret } from '../core/types.js';
import type { Logger, SecretRegistry } from '../observability/logger.js';
import { WebhookNotifier } from '../observability/notifier.js';
import { tracingRequested, type Tracing } from '../observability/tracing.js';
import { loadToolSources } from '../openapi/tool-sources.js';
import type { Authorizer } from '../policy/authorizer.js';
import { CapabilityAuthorizer } from '../policy/capability-authorizer.js';
import { assertPolicy, loadConditionCompiler } from '../policy/policy-validation.js';
import { createGrantStore, createRateLimiter } from '../policy/grant-store-registry.js';
import { capabilityMetaTools, type MetaTool } from '../policy/meta-tools.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { CredentialResolver } from '../secrets/credential-resolver.js';
import { compileRefTemplate } from '../secrets/ref-template.js';
import { createSecretBackend } from '../secrets/registry.js';
import { withResilience } from '../secrets/resilient-backend.js';
import type { SecretBackend } from '../secrets/secret-backend.js';
import { createHttpClient } from '../upstream/http-client.js';
import { OriginBreakers } from '../upstream/origin-breakers.js';
import { benchDisabledSteps, buildCallPipeline } from './call-pipeline.js';
import { compileTools, type InjectorHooks } from './compile-tools.js';
import type { CompiledTool } from './compiled-tool.js';
import { Gateway, type CallObserver, type GatewayParts } from './gateway.js';

export interface ComposeOptions {
  readonly logger: Logger;
  readonly secrets: SecretRegistry;
  readonly clock?: Clock;
  /** Told about every finished call (metrics). Must not throw or block. */
  readonly observer?: CallObserver;
  /**
   * Replaces the configured authorizer (tests that exercise the pipeline around a fixed decision).
   * Without it the capabilities layer is built from config: rules, grants, approvals, limits.
   */
  readonly authorizer?: (config: KeywardConfig, parts: GatewayParts) => Promise<Authorizer> | Authorizer;
  /**
   * Traces every tool call with this tracer (tests). Without it, tracing is on only when the
   * standard `OTEL_*` variables ask for it (the SDK is then loaded, and shut down at close).
   */
  readonly tracer?: Tracer;
  /** Where `OTEL_*` is read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Composed {
  readonly gateway: Gateway;
  /** Closes everything that was built, in reverse order of creation. Idempotent. */
  close(): Promise<void>;
}

/** One reverse stack of closers: each failure is logged, and the rest still close. */
class Closers {
  private readonly stack: { name: string; close: () => Promise<void> }[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  push(name: string, close: () => Promise<void>): void {
    this.stack.push({ name, close });
  }

  closeAll(): Promise<void> {
    this.closing ??= (async () => {
      for (const { name, close } of this.stack.reverse()) {
        try {
          await close();
        } catch (error) {
          this.logger.warn({ part: name, err: String(error) }, 'close failed');
        }
      }
    })();
    return this.closing;
  }
}

/**
 * The compile half of the composition, shared with `keyward check`: the policy's CEL conditions,
 * tools from OpenAPI sources, and every tool compiled (schemas, request templates, injectors).
 */
export async function compileConfiguredTools(
  loaded: LoadedConfig,
  options: { logger?: Logger; oauth2?: InjectorHooks['oauth2'] } = {},
): Promise<ReadonlyMap<string, CompiledTool>> {
  const { config, baseDir } = loaded;
  // The CEL engine is loaded only when some rule has a condition.
  assertPolicy(config, loaded.file, await loadConditionCompiler(config));
  if (config.toolSources.length > 0) {
    Object.assign(
      config.tools,
      await loadToolSources(config, {
        baseDir,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      }),
    );
  }
  return compileTools(config, options.oauth2 === undefined ? {} : { oauth2: options.oauth2 });
}

export async function compose(loaded: LoadedConfig, options: ComposeOptions): Promise<Composed> {
  const { config, baseDir } = loaded;
  const { logger, secrets } = options;
  const clock = options.clock ?? systemClock;
  const closers = new Closers(logger);
  try {
    let tracing: Tracing | undefined;
    const env = options.env ?? process.env;
    if (options.tracer === undefined && tracingRequested(env)) {
      // The SDK is loaded only here: with tracing off, the call path never builds a span.
      const { startTracing } = await import('../observability/tracing-sdk.js');
      tracing = startTracing({ env, logger, secrets });
      const started = tracing;
      closers.push('tracing', () => started.shutdown());
    }

    const backends = new Map<string, SecretBackend>();
    for (const [name, backendConfig] of Object.entries(config.backends)) {
      const backend = await createSecretBackend(name, backendConfig, { logger, clock, baseDir });
      closers.push(`backend ${name}`, () => backend.close());
      backends.set(name, withResilience(backend, backendConfig, { logger, clock, name }));
    }

    const benchDisabled = benchDisabledSteps();
    if (benchDisabled.size > 0)
      logger.warn({ disabled: [...benchDisabled] }, 'KEYWARD_BENCH_DISABLE: measurement only');
    const realCache = await createCredentialCache(config.cache, { logger, clock, baseDir });
    closers.push('credential cache', () => realCache.close());
    const cache = benchDisabled.has('credential-cache') ? uncachedForBench(realCache) : realCache;

    const audit = await createAuditSink(config.audit, { logger, clock, baseDir });
    closers.push('audit sink', async () => {
      await audit.flush().catch(() => undefined);
      await audit.close();
    });

    // Per-user OAuth connections (src/connections/): the token vault the resolver delegates to.
    const flows = await createFlowStore(config, { clock, logger, baseDir });
    if (flows !== undefined) closers.push('consent flow store', () => flows.close());
    const connections = new ConnectionManager({
      config,
      backends,
      audit,
      clock,
      logger,
      secrets,
      ...(flows === undefined ? {} : { flows }),
    });
    closers.push('connections', () => connections.close());
    const resolver = new CredentialResolver({
      credentials: config.credentials,
      backends,
      cache,
      clock,
      logger,
      ...(connections.enabled ? { delegate: connections } : {}),
    });
    closers.push('credential resolver', () => resolver.close?.() ?? Promise.resolve());
    const spool = new CompletionSpool(
      spoolPathFor(config.audit, resolvePath(DEFAULTS.home, baseDir)),
      logger,
    );
    await spool.replay(audit).catch(() => undefined);

    const tools = await compileConfiguredTools(loaded, {
      logger,
      oauth2: (credentialId) => ({
        credentialName: credentialId,
        logger,
        clock,
        rotate: refreshTokenWriter(config, credentialId, backends, resolver),
      }),
    });

    const notifier = new WebhookNotifier({ config: config.notifier, logger, clock });
    closers.push('notifier', () => notifier.flush());

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

    // Grants and approvals change from other processes (`keyward grants`, the console, another
    // replica): sessions are told to re-list their tools.
    const ref: { gateway?: Gateway } = {};
    const toolListChanged = (): void => ref.gateway?.notifyToolListChanged();
    const authorizer =
      options.authorizer === undefined
        ? await capabilities(config, parts, closers, toolListChanged)
        : await options.authorizer(config, parts);
    const metaTools: readonly MetaTool[] =
      config.policy.metaTools && authorizer instanceof CapabilityAuthorizer
        ? capabilityMetaTools(authorizer)
        : [];

    const http = createHttpClient();
    closers.push('upstream HTTP client', () => http.close());
    const tracer = options.tracer ?? tracing?.tracer;
    const pipeline = buildCallPipeline({
      audit,
      authorizer,
      resolver,
      http,
      clock,
      logger,
      secrets,
      tools,
      spool,
      breakers: new OriginBreakers(config.upstream.breaker),
      ...(tracer === undefined ? {} : { tracer }),
      benchDisabled,
    });
    const built = new Gateway(parts, authorizer, pipeline, metaTools, options.observer, () =>
      closers.closeAll(),
    );
    ref.gateway = built;
    // First to close: no call starts once closing has begun.
    closers.push('gateway', () => Promise.resolve(built.stopAccepting()));
    return { gateway: built, close: () => closers.closeAll() };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/** The gateway alone, for tests and tools that close it with `gateway.close()`. */
export async function createGateway(loaded: LoadedConfig, options: ComposeOptions): Promise<Gateway> {
  return (await compose(loaded, options)).gateway;
}

/** The capabilities layer: policy engine, grant store, rate limiter, authorizer. */
async function capabilities(
  config: KeywardConfig,
  parts: GatewayParts,
  closers: Closers,
  toolListChanged: () => void,
): Promise<CapabilityAuthorizer> {
  const engine = new PolicyEngine(config.policy.rules, await loadConditionCompiler(config));
  const storeDeps = {
    config,
    logger: parts.logger,
    clock: parts.clock,
    baseDir: parts.baseDir,
    // A grant or approval in shared state that fails its seal: someone wrote it around keyward.
    onForged: (what: { kind: string; id: string }) =>
      parts.notifier.notify({
        type: 'state.forged',
        message: `a ${what.kind} record in the shared grant store fails its seal and is ignored`,
        details: { kind: what.kind, id: what.id },
      }),
  };
  const grants = await createGrantStore(storeDeps);
  closers.push('grant store', () => grants.close());
  const rateLimiter = await createRateLimiter(storeDeps);
  closers.push('rate limiter', () => rateLimiter.close());
  const unwatch = grants.watch?.(toolListChanged);
  if (unwatch !== undefined) closers.push('grant store watch', () => Promise.resolve(unwatch()));
  const toolPermissions = new Map([...parts.tools.values()].map((t) => [t.name, t.permission]));
  return new CapabilityAuthorizer(
    {
      engine,
      grants,
      rateLimiter,
      audit: parts.audit,
      clock: parts.clock,
      logger: parts.logger,
      notifier: parts.notifier,
      onGrantsChanged: toolListChanged,
      metaToolRateLimit: config.policy.metaToolRateLimit,
      links: parts.consoleLinks,
      operatorWaitSeconds: config.console.waitSeconds,
    },
    toolPermissions,
  );
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

/**
 * Where a rotated OAuth2 refresh token is written back: the stored secret is replaced with its
 * fields plus the new token (only untemplated refs, where every principal shares the credential and
 * the write cannot be told apart from the token alone) on backends that store the secret as one
 * string; elsewhere the rotated token lives in this process only (and a warning is logged).
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
