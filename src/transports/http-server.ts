/**
 * The one HTTP server of remote mode (express 5): Host and Origin allowlists (403), a body size
 * limit (413), /healthz, /readyz, /metrics, the RFC 9728 protected-resource metadata, bearer
 * authentication on every MCP request (401 + WWW-Authenticate resource_metadata), Streamable HTTP
 * at /mcp and legacy SSE at /sse + /messages. The inbound token is used for authentication only:
 * it is never handed to the MCP layer and so can never be forwarded upstream.
 */
import {
  createServer,
  type IncomingMessage,
  type Server as NodeServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { KeywardConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../core/clock.js';
import { isAuthError, type AuthError } from '../identity/auth-error.js';
import type { Authenticated } from '../identity/authenticated.js';
import type { PrincipalResolver } from '../identity/principal-resolver.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Gateway } from '../server/gateway.js';
import { browserGuard } from './browser-guard.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import { SseSessions } from './sse.js';
import { StreamableHttpSessions, type McpRequest } from './streamable-http.js';
import { MemoryInFlightLimiter, type InFlightLimiter } from '../policy/in-flight-limiter.js';
import type { SessionAdmission } from './session-registry.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readSecretSource } from '../secrets/bootstrap-value.js';
import { CONSOLE_PATH, createConsole, defaultConsoleUrl } from '../console/console-app.js';
import { CapabilityAuthorizer } from '../policy/capability-authorizer.js';
import { connectionsBaseUrl } from '../connections/connections-url.js';
import { OAUTH_PATH } from '../connections/connection-manager.js';
import { createOAuthRouter } from '../connections/oauth-router.js';
import { createEventStore } from './event-store/registry.js';
import { RemoteResumes } from './event-store/remote-resume.js';
import { UnsentAnswers } from './unsent-answers.js';

export type HttpServerConfig = NonNullable<KeywardConfig['server']['http']>;

export interface HttpServerOptions {
  readonly gateway: Gateway;
  readonly resolver: PrincipalResolver;
  readonly logger: Logger;
  readonly http: HttpServerConfig;
  readonly metrics?: Metrics;
  readonly clock?: Clock;
  /** Deadline of each readiness probe. */
  readonly probeTimeoutMs?: number;
}

export interface RunningHttpServer {
  /** `http://host:port` as bound. */
  readonly baseUrl: string;
  /** The resource URL of /mcp (publicUrl, or derived from the bound address). */
  readonly resourceUrl: string;
  readonly port: number;
  /** Open sessions across both transports. */
  readonly sessions: number;
  /** Stops accepting connections (in-flight requests and open streams continue). */
  stopAccepting(): void;
  /** Closes every session and connection. */
  closeSessions(): Promise<void>;
  /** stopAccepting + closeSessions. */
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export { isLoopbackHost } from '../config/http-bind.js';

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { http, logger, resolver, metrics } = options;
  const clock = options.clock ?? systemClock;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  // POST /mcp and POST /messages (every tool call) take a lean path; everything else goes through express.
  let fastLane: (req: IncomingMessage, res: ServerResponse) => boolean = () => false;
  const nodeServer: NodeServer = createServer(
    {
      headersTimeout: http.headersTimeoutMs,
      requestTimeout: http.requestTimeoutMs,
      // Node checks both timeouts on this interval (default 30 s): a slow-header client would
      // otherwise hold its socket three times longer than configured.
      connectionsCheckingInterval: Math.min(1_000, http.headersTimeoutMs),
    },
    (req, res) => {
      if (!fastLane(req, res)) app(req, res);
    },
  );
  nodeServer.maxConnections = http.maxConnections;
  const sockets = new Set<Socket>();
  nodeServer.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    nodeServer.once('error', reject);
    nodeServer.listen(http.port, http.host, () => {
      nodeServer.off('error', reject);
      resolve();
    });
  });
  const port = (nodeServer.address() as AddressInfo).port;
  const urlHost = http.host.includes(':') ? `[${http.host}]` : http.host;
  const wildcard = http.host === '0.0.0.0' || http.host === '::';
  const baseUrl = `http://${wildcard ? '127.0.0.1' : urlHost}:${port}`;
  const resourceUrl = http.publicUrl ?? `${baseUrl}/mcp`;
  const resource = new URL(resourceUrl);
  const metadataPath = `/.well-known/oauth-protected-resource${resource.pathname === '/' ? '' : resource.pathname}`;
  const metadataUrl = `${resource.origin}${metadataPath}`;

  const allowedHosts = http.allowedHosts ?? [
    ...LOOPBACK_HOSTS,
    resource.hostname.includes(':') ? `[${resource.hostname}]` : resource.hostname,
    ...(wildcard ? [] : [urlHost]),
    ...(options.gateway.parts.config.connections.publicUrl === undefined
      ? []
      : [new URL(options.gateway.parts.config.connections.publicUrl).hostname]),
  ];
  const allowedOrigins = new Set([
    ...http.allowedOrigins.map((o) => o.replace(/\/+$/, '')),
    resource.origin,
    new URL(defaultConsoleUrl(options.gateway.parts.config, baseUrl)).origin,
    `http://localhost:${port}`,
    `http://127.0.0.1:${port}`,
  ]);

  let total = (): number => 0;
  let ofPrincipal = (_auth: Authenticated): number => 0;
  const admit = (auth: Authenticated): SessionAdmission =>
    total() >= http.maxSessions
      ? 'full'
      : ofPrincipal(auth) >= http.maxSessionsPerPrincipal
        ? 'principal-full'
        : 'ok';
  const inFlightLimiter = await createInFlightLimiter(options.gateway, http.maxInFlightPerPrincipal, logger);
  const eventStore = await createEventStore(options.gateway.parts.config, http, {
    clock,
    logger,
    baseDir: options.gateway.parts.baseDir,
  });
  // One count for both transports: a principal's unread answers, wherever they wait.
  const unsentAnswers = new UnsentAnswers();
  const streamable = new StreamableHttpSessions({
    ...(eventStore === undefined
      ? {}
      : {
          eventStore,
          retryMs: http.streams.retryMs,
          ...(http.streams.pollAfterSeconds === 0
            ? {}
            : { closeAfterMs: http.streams.pollAfterSeconds * 1000 }),
          ...(eventStore.shared
            ? {
                remoteResumes: new RemoteResumes({
                  store: eventStore,
                  maxOpen: http.maxSessions,
                  maxOpenPerPrincipal: http.maxSessionsPerPrincipal,
                }),
              }
            : {}),
        }),
    gateway: options.gateway,
    logger,
    clock,
    admit,
    inFlightLimiter,
    unsentAnswers,
    onCountChange: (n) => metrics?.setSessions('streamable-http', n),
    onMismatch: () => metrics?.authFailure('session_mismatch'),
  });
  const sse = new SseSessions({
    gateway: options.gateway,
    logger,
    clock,
    messagesPath: '/messages',
    admit,
    inFlightLimiter,
    unsentAnswers,
    onCountChange: (n) => metrics?.setSessions('sse', n),
    onMismatch: () => metrics?.authFailure('session_mismatch'),
  });
  total = () => streamable.size + sse.size;
  ofPrincipal = (auth) => streamable.countFor(auth.principal) + sse.countFor(auth.principal);

  // Liveness answers before the Host check: load balancers probe by IP. It reveals nothing.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  const guard = browserGuard(allowedHosts, allowedOrigins);
  app.use((req, res, next) => {
    res.setHeader('Vary', 'Origin');
    const refused = guard.check(req);
    if (refused === undefined) return next();
    metrics?.authFailure(refused.reason);
    sendJsonRpcError(res, 403, refused.message);
  });

  // /readyz is unauthenticated: one probe of every backend per request would let anyone drive
  // load onto Vault, AWS, Redis and PostgreSQL. Probes run at most once at a time, and a healthy
  // answer is reused for 2 s (an unhealthy one is not, so recovery shows at once).
  let cachedReadiness: { at: number; report: Promise<Readiness> } | undefined;
  const currentReadiness = (): Promise<Readiness> => {
    const now = clock.now();
    if (cachedReadiness !== undefined) {
      const age = now - cachedReadiness.at;
      const fresh = cachedReadiness.report.then((r) => r.ok && age < 2_000);
      return fresh.then((ok) => (ok ? cachedReadiness!.report : probeNow()));
    }
    return probeNow();
  };
  let probing: Promise<Readiness> | undefined;
  const probeNow = (): Promise<Readiness> => {
    probing ??= readiness(options.gateway, options.probeTimeoutMs ?? 2_000).finally(() => {
      probing = undefined;
    });
    const report = probing;
    cachedReadiness = { at: clock.now(), report };
    return report;
  };
  app.get('/readyz', async (_req, res) => {
    const report = await currentReadiness();
    for (const [name, component] of Object.entries(report.components)) {
      if (!component.ok)
        logger.warn({ component: name, message: component.message }, 'readiness probe failed');
    }
    const components = Object.fromEntries(Object.entries(report.components).map(([k, v]) => [k, v.ok]));
    res.status(report.ok ? 200 : 503).json({ status: report.ok ? 'ready' : 'unavailable', components });
  });

  // The metrics name every tool, hidden ones included: with metricsToken only the operator's
  // scraper reads them (the token is compared as a hash, in constant time).
  const metricsTokenHash =
    http.metricsToken === undefined
      ? undefined
      : createHash('sha256')
          .update(readSecretSource(http.metricsToken, options.gateway.parts.baseDir))
          .digest();
  app.get('/metrics', async (req, res) => {
    if (metrics === undefined) {
      res.status(404).end();
      return;
    }
    if (metricsTokenHash !== undefined) {
      const given = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const hash = createHash('sha256').update(given).digest();
      if (!timingSafeEqual(hash, metricsTokenHash)) {
        metrics.authFailure('metrics_token');
        res.setHeader('WWW-Authenticate', 'Bearer realm="keyward-metrics"');
        res.status(401).json({ error: 'a metrics token is required' });
        return;
      }
    }
    res.setHeader('Content-Type', metrics.contentType);
    res.send(await metrics.render());
  });

  const prm = {
    resource: resourceUrl,
    authorization_servers: options.gateway.parts.config.identity.jwt?.issuers ?? [],
    bearer_methods_supported: ['header'],
    resource_name: 'keyward',
  };
  for (const path of new Set([metadataPath, '/.well-known/oauth-protected-resource'])) {
    app.get(path, (_req, res) => {
      res.json(prm);
    });
  }

  const rejectAuth = (res: ServerResponse, error: AuthError): void => {
    metrics?.authFailure(error.kind);
    const params = [`resource_metadata="${metadataUrl}"`];
    if (error.kind === 'invalid_token') {
      params.unshift(`error="invalid_token"`, `error_description="${error.message.replace(/"/g, "'")}"`);
    }
    res.setHeader('WWW-Authenticate', `Bearer ${params.join(', ')}`);
    sendJsonRpcError(
      res,
      error.status,
      error.kind === 'missing_token' ? 'Unauthorized' : 'Unauthorized: ' + error.message,
    );
  };
  const authenticate: RequestHandler = (req, res, next) => {
    resolver.authenticate(req.headers.authorization).then(
      (auth) => {
        res.locals['auth'] = auth;
        next();
      },
      (error: unknown) => {
        if (isAuthError(error)) rejectAuth(res, error);
        else next(error);
      },
    );
  };
  // MCP POSTs whose responses are still open: shutdown lets them flush after the drain.
  let openPosts = 0;
  const postsIdle: (() => void)[] = [];
  const trackResponse = (res: ServerResponse): void => {
    openPosts++;
    res.once('close', () => {
      openPosts--;
      if (openPosts === 0) for (const wake of postsIdle.splice(0)) wake();
    });
  };
  const trackPost: RequestHandler = (_req, res, next) => {
    trackResponse(res);
    next();
  };
  const json = express.json({ limit: http.maxBodyBytes, type: ['application/json', 'application/*+json'] });
  // The approval console (issue 15): its own operator sign-in, never an agent's bearer token.
  const consoleUrl = defaultConsoleUrl(options.gateway.parts.config, baseUrl);
  const authorizer = options.gateway.authorizer;
  const consoleRouter =
    authorizer instanceof CapabilityAuthorizer
      ? createConsole({
          config: options.gateway.parts.config,
          grants: authorizer.grants,
          audit: options.gateway.parts.audit,
          clock,
          logger,
          consoleUrl,
          isAllowedOrigin: guard.isAllowedOrigin,
          connections: options.gateway.parts.connections,
        })
      : undefined;
  if (consoleRouter !== undefined) {
    app.use(CONSOLE_PATH, consoleRouter);
    options.gateway.parts.consoleLinks.served(consoleUrl);
  }
  // Per-user OAuth connections (issue 16): keyward's own consent start page and callback.
  const connections = options.gateway.parts.connections;
  if (connections.enabled) {
    const oauthBase = connectionsBaseUrl(options.gateway.parts.config, baseUrl);
    app.use(
      OAUTH_PATH,
      createOAuthRouter({ manager: connections, logger, secureCookies: oauthBase.startsWith('https:') }),
    );
    connections.served(oauthBase);
  }

  const authOf = (res: Response): Authenticated => res.locals['auth'] as Authenticated;
  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res, next) => {
      fn(req, res).catch(next);
    };

  app.post(
    '/mcp',
    trackPost,
    authenticate,
    json,
    wrap((req, res) => streamable.handle(req, res, authOf(res))),
  );
  app.get(
    '/mcp',
    authenticate,
    wrap((req, res) => streamable.handle(req, res, authOf(res))),
  );
  app.delete(
    '/mcp',
    authenticate,
    wrap((req, res) => streamable.handle(req, res, authOf(res))),
  );
  app.get(
    '/sse',
    authenticate,
    wrap((_req, res) => sse.open(res, authOf(res))),
  );
  app.post(
    '/messages',
    trackPost,
    authenticate,
    json,
    wrap((req, res) => sse.post(req, res, authOf(res))),
  );
  app.all(['/mcp', '/sse', '/messages'], (_req, res) => {
    res.setHeader('Allow', 'GET, POST, DELETE');
    sendJsonRpcError(res, 405, 'Method not allowed');
  });

  // Body parser and transport errors: a fixed message, never a stack or the request body.
  app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const type = (error as { type?: string }).type;
    const status = clientErrorStatus(error);
    if (type === 'entity.too.large') sendJsonRpcError(res, 413, 'Request body too large');
    else if (type === 'entity.parse.failed') sendJsonRpcError(res, 400, 'Parse error', -32700);
    else if (status !== undefined) {
      // The client's doing (an encoding or charset the parser does not know, a body that does not
      // inflate, an aborted upload): its 4xx with a fixed message, and no error log a client could fill.
      logger.debug({ status, type }, 'http request body refused');
      sendJsonRpcError(res, status, status === 415 ? UNSUPPORTED_BODY : UNREADABLE_BODY);
    } else {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'http request failed');
      sendJsonRpcError(res, 500, 'Internal error', -32603);
    }
  });

  const maxBody = http.maxBodyBytes;
  fastLane = (req, res) => {
    if (req.method !== 'POST') return false;
    const path = pathOf(req.url);
    if ((path !== '/mcp' && path !== '/messages') || !isPlainJson(req)) return false;
    res.setHeader('Vary', 'Origin');
    const refused = guard.check(req);
    if (refused !== undefined) {
      metrics?.authFailure(refused.reason);
      sendJsonRpcError(res, 403, refused.message);
      return true;
    }
    trackResponse(res);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      sendJsonRpcError(res, 413, 'Request body too large');
      req.resume();
      return true;
    }
    resolver
      .authenticate(req.headers.authorization)
      .then(
        (auth) =>
          readJsonBody(req, maxBody).then((body) => {
            if (body === TOO_LARGE) return sendJsonRpcError(res, 413, 'Request body too large');
            if (body === UNPARSABLE) return sendJsonRpcError(res, 400, 'Parse error', -32700);
            (req as McpRequest).body = body;
            return path === '/mcp' ? streamable.handle(req, res, auth) : sse.post(req, res, auth);
          }),
        (error: unknown) => {
          req.resume();
          if (isAuthError(error)) rejectAuth(res, error);
          else throw error;
        },
      )
      .catch((error: unknown) => {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'http request failed');
        sendJsonRpcError(res, 500, 'Internal error', -32603);
      });
    return true;
  };

  const idleMs = http.sessionIdleSeconds * 1000;
  const reaper = setInterval(
    () => {
      void streamable.reapIdle(idleMs).then((n) => {
        if (n > 0) logger.info({ sessions: n }, 'closed idle sessions');
      });
    },
    Math.min(60_000, Math.max(1_000, idleMs / 2)),
  );
  reaper.unref();

  let accepting = true;
  const stopAccepting = (): void => {
    if (!accepting) return;
    accepting = false;
    clearInterval(reaper);
    nodeServer.close();
  };
  const closeSessions = async (): Promise<void> => {
    // Calls have drained; give their responses (a POST's SSE stream, or the legacy stream) time to flush.
    if (openPosts > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        timer.unref();
        postsIdle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    await streamable.closeAll();
    await sse.closeAll();
    await inFlightLimiter.close?.();
    await eventStore?.close();
    nodeServer.closeAllConnections();
    for (const socket of sockets) socket.destroy();
  };
  logger.info(
    { url: `${baseUrl}/mcp`, sse: `${baseUrl}/sse`, auth: resolver.required },
    'keyward serving HTTP',
  );
  return {
    baseUrl,
    resourceUrl,
    port,
    get sessions() {
      return total();
    },
    stopAccepting,
    closeSessions,
    async close() {
      stopAccepting();
      await closeSessions();
    },
  };
}

/**
 * With a Redis cache the in-flight cap holds across replicas (leases in Redis); else per process.
 * A lease outlives any call: the upstream deadline plus an approval's elicitation wait.
 */
async function createInFlightLimiter(
  gateway: Gateway,
  max: number,
  logger: Logger,
): Promise<InFlightLimiter> {
  const cache = gateway.parts.config.cache;
  if (cache.type !== 'redis') return new MemoryInFlightLimiter(max);
  const { RedisInFlightLimiter } = await import('../policy/redis/redis-in-flight-limiter.js');
  return RedisInFlightLimiter.create({
    url: cache.url,
    keyPrefix: cache.keyPrefix,
    commandTimeoutMs: cache.commandTimeoutMs,
    logger,
    max,
    leaseTtlMs: 10 * 60_000,
  });
}

interface Readiness {
  ok: boolean;
  components: Record<string, { ok: boolean; message: string }>;
}

/** Probes every backend, the cache and the audit sink in parallel, each bounded by timeoutMs. */
export async function readiness(gateway: Gateway, timeoutMs: number): Promise<Readiness> {
  const probes: [string, () => Promise<{ ok: boolean; message: string }>][] = [
    ['cache', () => gateway.parts.cache.probe()],
    ['audit', () => gateway.parts.audit.probe()],
    ...[...gateway.parts.backends].map(
      ([name, backend]) =>
        [`backend:${name}`, () => backend.probe()] as [
          string,
          () => Promise<{ ok: boolean; message: string }>,
        ],
    ),
  ];
  const results = await Promise.all(
    probes.map(async ([name, probe]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<{ ok: boolean; message: string }>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, message: `no answer within ${timeoutMs} ms` }),
          timeoutMs,
        );
      });
      const result = await Promise.race([
        probe().catch((error: unknown) => ({
          ok: false,
          message: error instanceof Error ? error.message : 'failed',
        })),
        timeout,
      ]);
      clearTimeout(timer);
      return [name, result] as const;
    }),
  );
  const components = Object.fromEntries(results);
  return { ok: results.every(([, r]) => r.ok), components };
}

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Only uncompressed JSON takes the lean path; anything else gets express's full handling. */
function isPlainJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  if (type === undefined) return false;
  const base = type.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (base !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(base)) return false;
  const encoding = req.headers['content-encoding'];
  return encoding === undefined || encoding === 'identity';
}

/** The Host check of the SDK's hostHeaderValidation (hostname in the allowlist), with a small cache. */
const TOO_LARGE = Symbol('too large');
const UNPARSABLE = Symbol('unparsable');

/** Reads a JSON body up to maxBytes; never throws for bad input. */
function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        req.resume();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        resolve(JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown);
      } catch {
        resolve(UNPARSABLE);
      }
    });
    req.on('error', (error) => {
      if (done) return;
      done = true;
      reject(error);
    });
  });
}

const UNSUPPORTED_BODY =
  'Unsupported Content-Encoding or charset: send JSON as UTF-8, identity or gzip/deflate/br';
const UNREADABLE_BODY = 'The request body could not be read (a compressed body that does not decompress?)';

/** The 4xx status body-parser (or the request stream) attached to an error, if any. */
function clientErrorStatus(error: unknown): number | undefined {
  const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && code >= 400 && code < 500 ? code : undefined;
}
