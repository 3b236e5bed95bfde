/**
 * A faithful HTTP emulator of the Vault API subset keyward uses (reference vault-and-aws.md §1):
 * KV v2 (versions, CAS, soft delete, undelete, destroy, metadata, list via GET ?list=true), token
 * lookup/renew/revoke-self, AppRole login, dynamic secrets with leases (renew/revoke/lookup),
 * sys/health; fault switches (sealed, rate limited, latency, hang, 500, access denied, non-JSON)
 * and request counters per path. Listens on 127.0.0.1, port 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface EmulatorClock {
  now(): number;
}

interface TokenEntry {
  id: string;
  accessor: string;
  policies: string[];
  /** Path prefixes (after /v1/) this token may use; undefined = everything (root). */
  allow: string[] | undefined;
  ttlSeconds: number;
  /** Epoch ms; undefined = never expires. */
  expiresAt: number | undefined;
  maxExpiresAt: number | undefined;
  renewable: boolean;
  revoked: boolean;
  createdAt: number;
  leases: Set<string>;
}

interface KvVersion {
  data: Record<string, unknown>;
  createdTime: string;
  deletionTime: string;
  destroyed: boolean;
}

interface KvKey {
  versions: Map<number, KvVersion>;
  currentVersion: number;
  oldestVersion: number;
  createdTime: string;
  updatedTime: string;
  customMetadata: Record<string, string> | null;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: string;
}

export interface DynamicRole {
  /** Produces the credential data for a new lease. */
  generate: (n: number) => Record<string, unknown>;
  ttlSeconds: number;
  maxTtlSeconds: number;
  renewable: boolean;
}

interface Lease {
  id: string;
  path: string;
  issuedAt: number;
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
  revoked: boolean;
  lastRenewal: number | undefined;
  token: string;
}

interface AppRole {
  roleId: string;
  secretIds: Map<string, { usesLeft: number | undefined }>;
  tokenTtlSeconds: number;
  tokenMaxTtlSeconds: number;
  allow: string[] | undefined;
}

export interface VaultEmulatorOptions {
  clock?: EmulatorClock;
  /** KV v2 mounts (default ['secret']). */
  kvMounts?: string[];
  /** A root token created at start (default 'root-token'). */
  rootToken?: string;
  /** Serve HTTPS with this PEM key and certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** One received request, for assertions (headers lower-cased; no bodies kept). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  namespace: string | undefined;
}

const PERMISSION_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';
const INTERNAL_ERROR = '1 error occurred:\n\t* internal error\n\n';

function rfc3339(ms: number): string {
  // Vault prints nanoseconds; pad the millisecond ISO form.
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

function parseDuration(value: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (!m) return 0;
  return (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export class VaultEmulator {
  readonly clock: EmulatorClock;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly kv = new Map<string, Map<string, KvKey>>();
  private readonly dynamic = new Map<string, DynamicRole>();
  private readonly leases = new Map<string, Lease>();
  private readonly approles = new Map<string, AppRole>();
  private issuedCount = 0;
  private readonly counters = new Map<string, number>();
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly rootToken: string;
  private readonly tls: { key: string | Buffer; cert: string | Buffer } | undefined;
  url = '';

  // Fault switches.
  sealed = false;
  standby = false;
  /** 429 with Retry-After on every non-health request. */
  rateLimited = false;
  /** Delay before every answer, in ms (benchmarks use 5 and 50). */
  latencyMs = 0;
  /** Never answer non-health requests. */
  hang = false;
  /** 500 internal error (e.g. audit device failure) on every non-health request. */
  fail500 = false;
  /** 403 permission denied for every authenticated request. */
  accessDenied = false;
  /** 502 with an HTML body on every non-health request. */
  nonJson = false;
  /** When set, requests must carry this X-Vault-Namespace (else 403 permission denied). */
  requiredNamespace: string | undefined;

  constructor(options: VaultEmulatorOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    for (const m of options.kvMounts ?? ['secret']) this.kv.set(m, new Map());
    this.rootToken = options.rootToken ?? 'root-token';
    this.tls = options.tls;
    this.addToken({ id: this.rootToken, policies: ['root'] });
  }

  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.server = this.tls ? createHttpsServer(this.tls, handler) : createServer(handler);
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ---- test setup helpers ----

  /** Creates a token. `allow` restricts it to path prefixes under /v1/ (undefined = all). */
  addToken(opts: {
    id?: string;
    policies?: string[];
    allow?: string[];
    ttlSeconds?: number;
    maxTtlSeconds?: number;
    renewable?: boolean;
  }): string {
    const now = this.clock.now();
    const id = opts.id ?? `hvs.${randomBytes(12).toString('base64url')}`;
    const ttl = opts.ttlSeconds ?? 0;
    this.tokens.set(id, {
      id,
      accessor: randomBytes(8).toString('hex'),
      policies: opts.policies ?? ['default'],
      allow: opts.allow,
      ttlSeconds: ttl,
      expiresAt: ttl > 0 ? now + ttl * 1000 : undefined,
      maxExpiresAt: opts.maxTtlSeconds ? now + opts.maxTtlSeconds * 1000 : undefined,
      renewable: opts.renewable ?? ttl > 0,
      revoked: false,
      createdAt: now,
      leases: new Set(),
    });
    return id;
  }

  /** Revokes a token (and its leases) as an admin would. */
  revokeToken(id: string): void {
    const t = this.tokens.get(id);
    if (!t) return;
    t.revoked = true;
    for (const l of t.leases) {
      const lease = this.leases.get(l);
      if (lease) lease.revoked = true;
    }
  }

  /** The token AppRole logins issued most recently. */
  lastIssuedToken(): string | undefined {
    return [...this.tokens.values()].filter((t) => t.id !== this.rootToken).at(-1)?.id;
  }

  addAppRole(opts: {
    roleId: string;
    secretId: string;
    secretIdUses?: number;
    tokenTtlSeconds?: number;
    tokenMaxTtlSeconds?: number;
    allow?: string[];
  }): void {
    const role: AppRole = this.approles.get(opts.roleId) ?? {
      roleId: opts.roleId,
      secretIds: new Map(),
      tokenTtlSeconds: opts.tokenTtlSeconds ?? 3600,
      tokenMaxTtlSeconds: opts.tokenMaxTtlSeconds ?? 86_400,
      allow: opts.allow,
    };
    role.secretIds.set(opts.secretId, { usesLeft: opts.secretIdUses });
    this.approles.set(opts.roleId, role);
  }

  addDynamicRole(path: string, role: Partial<DynamicRole> = {}): void {
    this.dynamic.set(path, {
      generate:
        role.generate ?? ((n) => ({ username: `v-user-${n}`, password: `dyn-pass-${n}-${randomUUID()}` })),
      ttlSeconds: role.ttlSeconds ?? 60,
      maxTtlSeconds: role.maxTtlSeconds ?? 600,
      renewable: role.renewable ?? true,
    });
  }

  /** Writes a KV v2 version directly (no auth), returning the version number. */
  putKv(path: string, data: Record<string, unknown>, mount = 'secret'): number {
    const r = this.kvWrite(mount, path, { data }, true);
    return (r.body as { data: { version: number } }).data.version;
  }

  setKvMetadata(
    path: string,
    meta: {
      customMetadata?: Record<string, string>;
      maxVersions?: number;
      casRequired?: boolean;
      deleteVersionAfter?: string;
    },
    mount = 'secret',
  ): void {
    const key = this.kvKey(mount, path, true);
    if (!key) return;
    if (meta.customMetadata) key.customMetadata = meta.customMetadata;
    if (meta.maxVersions !== undefined) key.maxVersions = meta.maxVersions;
    if (meta.casRequired !== undefined) key.casRequired = meta.casRequired;
    if (meta.deleteVersionAfter !== undefined) key.deleteVersionAfter = meta.deleteVersionAfter;
  }

  /** Soft-deletes (deletion_time = now) or destroys versions (default: current). */
  deleteKv(path: string, opts: { versions?: number[]; destroy?: boolean } = {}, mount = 'secret'): void {
    const key = this.kvKey(mount, path, false);
    if (!key) return;
    for (const v of opts.versions ?? [key.currentVersion]) {
      const ver = key.versions.get(v);
      if (!ver) continue;
      if (opts.destroy) ver.destroyed = true;
      else ver.deletionTime = rfc3339(this.clock.now());
    }
  }

  /** Revokes a lease as an admin would. */
  revokeLease(id: string): void {
    const l = this.leases.get(id);
    if (l) l.revoked = true;
  }

  /** Live (not revoked, not expired) lease ids. */
  liveLeases(): string[] {
    const now = this.clock.now();
    return [...this.leases.values()].filter((l) => !l.revoked && l.expiresAt > now).map((l) => l.id);
  }

  /** How many requests hit exactly this path (e.g. `/v1/secret/data/app`), any method. */
  count(path: string): number {
    return this.counters.get(path) ?? 0;
  }

  /** Total requests whose path starts with `prefix`. */
  countPrefix(prefix: string): number {
    let n = 0;
    for (const [p, c] of this.counters) if (p.startsWith(prefix)) n += c;
    return n;
  }

  resetCounters(): void {
    this.counters.clear();
    this.requests.length = 0;
  }

  // ---- HTTP handling ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const method = req.method ?? 'GET';
    const nsHeader = req.headers['x-vault-namespace'];
    const namespace = typeof nsHeader === 'string' ? nsHeader : undefined;
    this.requests.push({ method, path, query: url.search, namespace });
    this.counters.set(path, (this.counters.get(path) ?? 0) + 1);
    const raw = await new Promise<string>((resolve) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (text += c));
      req.on('end', () => resolve(text));
      req.on('error', () => resolve(text));
    });
    const isHealth = path === '/v1/sys/health';
    if (this.hang && !isHealth) return; // never answer; stop() destroys the socket
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    let reply: Reply;
    try {
      reply = this.route(method, path, url.searchParams, raw, req, isHealth, namespace);
    } catch {
      reply = new Reply(500, { errors: [INTERNAL_ERROR] });
    }
    if (res.destroyed) return;
    if (reply.status === 204) {
      res.writeHead(204, reply.headers);
      res.end();
      return;
    }
    if (typeof reply.body === 'string') {
      res.writeHead(reply.status, { 'content-type': 'text/html', ...reply.headers });
      res.end(reply.body);
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  }

  private route(
    method: string,
    path: string,
    query: URLSearchParams,
    raw: string,
    req: IncomingMessage,
    isHealth: boolean,
    namespace: string | undefined,
  ): Reply {
    if (isHealth) return this.health();
    if (this.sealed) return new Reply(503, { errors: ['Vault is sealed'] });
    if (this.rateLimited) {
      return new Reply(
        429,
        { errors: [`request path "${path.slice(4)}": rate limit quota exceeded`] },
        { 'retry-after': '1' },
      );
    }
    if (this.fail500) return new Reply(500, { errors: [INTERNAL_ERROR] });
    if (this.nonJson) return new Reply(502, '<html><body>502 Bad Gateway</body></html>');
    if (!path.startsWith('/v1/')) return new Reply(404, { errors: [] });
    const rel = path.slice(4);
    let body: Record<string, unknown> = {};
    if (raw.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
      } catch {
        return new Reply(400, { errors: ['failed to parse JSON input'] });
      }
    }
    if (this.requiredNamespace !== undefined && namespace !== this.requiredNamespace) {
      return new Reply(403, { errors: [PERMISSION_DENIED] });
    }
    const isWrite = method === 'POST' || method === 'PUT';

    // Unauthenticated: AppRole login.
    const login = /^auth\/([^/]+)\/login$/.exec(rel);
    if (login && isWrite) return this.approleLogin(body);

    // Everything else needs a valid token.
    const header = req.headers['x-vault-token'];
    const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, '');
    const tokenId = (typeof header === 'string' && header !== '' ? header : bearer) ?? '';
    const token = this.tokens.get(tokenId);
    const now = this.clock.now();
    if (!token || token.revoked || (token.expiresAt !== undefined && token.expiresAt <= now)) {
      return new Reply(403, { errors: [INVALID_TOKEN] });
    }
    if (rel === 'auth/token/lookup-self' && method === 'GET') return this.lookupSelf(token);
    if (rel === 'auth/token/renew-self' && isWrite) return this.renewSelf(token);
    if (rel === 'auth/token/revoke-self' && isWrite) {
      this.revokeToken(token.id);
      return new Reply(204, null);
    }
    if (this.accessDenied) return new Reply(403, { errors: [PERMISSION_DENIED] });
    if (rel.startsWith('sys/leases/')) return this.leaseOp(rel, method, body, token);
    if (token.allow && !token.allow.some((p) => rel.startsWith(p))) {
      return new Reply(403, { errors: [PERMISSION_DENIED] });
    }
    const kv = /^([^/]+)\/(data|metadata|delete|undelete|destroy)\/(.*)$/.exec(rel);
    if (kv && this.kv.has(kv[1] as string)) {
      return this.kvRoute(kv[1] as string, kv[2] as string, kv[3] as string, method, query, body);
    }
    const role = this.dynamic.get(rel);
    if (role && method === 'GET') return this.issueLease(rel, role, token);
    return new Reply(404, { errors: [`no handler for route "${rel}". route entry not found.`] });
  }

  private health(): Reply {
    const body = {
      initialized: true,
      sealed: this.sealed,
      standby: this.standby,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(this.clock.now() / 1000),
      version: '1.17.0-emulator',
      cluster_name: 'vault-emulator',
      cluster_id: 'emulator',
    };
    return new Reply(this.sealed ? 503 : this.standby ? 429 : 200, body);
  }

  private envelope(data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      request_id: randomUUID(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data,
      wrap_info: null,
      warnings: null,
      auth: null,
      mount_type: '',
      ...extra,
    };
  }

  private approleLogin(body: Record<string, unknown>): Reply {
    const role = typeof body['role_id'] === 'string' ? this.approles.get(body['role_id']) : undefined;
    const secretId = typeof body['secret_id'] === 'string' ? body['secret_id'] : '';
    const entry = role?.secretIds.get(secretId);
    if (!role || !entry || entry.usesLeft === 0)
      return new Reply(400, { errors: ['invalid role or secret ID'] });
    if (entry.usesLeft !== undefined) entry.usesLeft -= 1;
    const id = this.addToken({
      policies: ['default', 'keyward'],
      ...(role.allow ? { allow: role.allow } : {}),
      ttlSeconds: role.tokenTtlSeconds,
      maxTtlSeconds: role.tokenMaxTtlSeconds,
      renewable: true,
    });
    const t = this.tokens.get(id) as TokenEntry;
    return new Reply(
      200,
      this.envelope(null, {
        auth: {
          client_token: id,
          accessor: t.accessor,
          policies: t.policies,
          token_policies: t.policies,
          metadata: { role_name: 'keyward' },
          lease_duration: role.tokenTtlSeconds,
          renewable: true,
          entity_id: randomUUID(),
          token_type: 'service',
          orphan: true,
        },
      }),
    );
  }

  private lookupSelf(t: TokenEntry): Reply {
    const now = this.clock.now();
    const ttl = t.expiresAt === undefined ? 0 : Math.max(0, Math.floor((t.expiresAt - now) / 1000));
    return new Reply(
      200,
      this.envelope({
        accessor: t.accessor,
        creation_time: Math.floor(t.createdAt / 1000),
        creation_ttl: t.ttlSeconds,
        display_name: 'token',
        entity_id: '',
        expire_time: t.expiresAt === undefined ? null : rfc3339(t.expiresAt),
        explicit_max_ttl: 0,
        id: t.id,
        identity_policies: [],
        issue_time: rfc3339(t.createdAt),
        meta: null,
        num_uses: 0,
        orphan: true,
        path: 'auth/token/create',
        policies: t.policies,
        renewable: t.renewable,
        ttl,
        type: 'service',
      }),
    );
  }

  private renewSelf(t: TokenEntry): Reply {
    if (!t.renewable || t.expiresAt === undefined)
      return new Reply(400, { errors: ['lease is not renewable'] });
    const now = this.clock.now();
    let expires = now + t.ttlSeconds * 1000;
    if (t.maxExpiresAt !== undefined) expires = Math.min(expires, t.maxExpiresAt);
    t.expiresAt = expires;
    const duration = Math.max(0, Math.floor((expires - now) / 1000));
    return new Reply(
      200,
      this.envelope(null, {
        auth: {
          client_token: t.id,
          accessor: t.accessor,
          policies: t.policies,
          token_policies: t.policies,
          metadata: null,
          lease_duration: duration,
          renewable: true,
        },
      }),
    );
  }

  // ---- leases ----

  private issueLease(path: string, role: DynamicRole, token: TokenEntry): Reply {
    const now = this.clock.now();
    this.issuedCount += 1;
    const id = `${path}/${randomBytes(12).toString('base64url')}`;
    const lease: Lease = {
      id,
      path,
      issuedAt: now,
      expiresAt: now + role.ttlSeconds * 1000,
      maxExpiresAt: now + role.maxTtlSeconds * 1000,
      renewable: role.renewable,
      revoked: false,
      lastRenewal: undefined,
      token: token.id,
    };
    this.leases.set(id, lease);
    token.leases.add(id);
    return new Reply(
      200,
      this.envelope(role.generate(this.issuedCount), {
        lease_id: id,
        lease_duration: role.ttlSeconds,
        renewable: role.renewable,
      }),
    );
  }

  private leaseOp(rel: string, method: string, body: Record<string, unknown>, token: TokenEntry): Reply {
    const now = this.clock.now();
    const op = rel.slice('sys/leases/'.length);
    const fromPath = op.startsWith('revoke/') ? op.slice('revoke/'.length) : undefined;
    const leaseId = fromPath ?? (typeof body['lease_id'] === 'string' ? body['lease_id'] : '');
    const lease = this.leases.get(leaseId);
    if (token.allow && !token.allow.some((p) => rel.startsWith(p) || leaseId.startsWith(p))) {
      return new Reply(403, { errors: [PERMISSION_DENIED] });
    }
    if (op === 'renew' && (method === 'PUT' || method === 'POST')) {
      if (!lease || lease.revoked) return new Reply(400, { errors: ['lease not found'] });
      if (lease.expiresAt <= now) return new Reply(400, { errors: ['lease expired'] });
      if (!lease.renewable) return new Reply(400, { errors: ['lease is not renewable'] });
      const role = this.dynamic.get(lease.path);
      const increment = typeof body['increment'] === 'number' ? body['increment'] : (role?.ttlSeconds ?? 60);
      lease.expiresAt = Math.min(now + increment * 1000, lease.maxExpiresAt);
      lease.lastRenewal = now;
      const duration = Math.max(0, Math.floor((lease.expiresAt - now) / 1000));
      const warnings = lease.expiresAt === lease.maxExpiresAt ? ['TTL of lease capped by max_ttl'] : null;
      return new Reply(
        200,
        this.envelope(null, { lease_id: lease.id, renewable: true, lease_duration: duration, warnings }),
      );
    }
    if ((op === 'revoke' || fromPath !== undefined) && (method === 'PUT' || method === 'POST')) {
      if (lease) lease.revoked = true;
      return new Reply(204, null);
    }
    if (op === 'lookup' && (method === 'PUT' || method === 'POST')) {
      if (!lease || lease.revoked || lease.expiresAt <= now)
        return new Reply(400, { errors: ['invalid lease'] });
      return new Reply(
        200,
        this.envelope({
          id: lease.id,
          issue_time: rfc3339(lease.issuedAt),
          expire_time: rfc3339(lease.expiresAt),
          last_renewal_time: lease.lastRenewal === undefined ? null : rfc3339(lease.lastRenewal),
          renewable: lease.renewable,
          ttl: Math.max(0, Math.floor((lease.expiresAt - now) / 1000)),
        }),
      );
    }
    return new Reply(405, { errors: ['unsupported operation'] });
  }

  // ---- KV v2 ----

  private kvKey(mount: string, path: string, create: boolean): KvKey | undefined {
    const store = this.kv.get(mount);
    if (!store) return undefined;
    let key = store.get(path);
    if (!key && create) {
      const t = rfc3339(this.clock.now());
      key = {
        versions: new Map(),
        currentVersion: 0,
        oldestVersion: 0,
        createdTime: t,
        updatedTime: t,
        customMetadata: null,
        maxVersions: 0,
        casRequired: false,
        deleteVersionAfter: '0s',
      };
      store.set(path, key);
    }
    return key;
  }

  private versionMetadata(key: KvKey, n: number, v: KvVersion): Record<string, unknown> {
    return {
      created_time: v.createdTime,
      custom_metadata: key.customMetadata,
      deletion_time: v.deletionTime,
      destroyed: v.destroyed,
      version: n,
    };
  }

  private kvRoute(
    mount: string,
    kind: string,
    path: string,
    method: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): Reply {
    const isWrite = method === 'POST' || method === 'PUT';
    const list = query.get('list');
    if (kind === 'data') {
      if (method === 'GET') return this.kvRead(mount, path, query.get('version'));
      if (isWrite) return this.kvWrite(mount, path, body, false);
      if (method === 'DELETE') {
        const key = this.kvKey(mount, path, false);
        const v = key?.versions.get(key.currentVersion);
        if (v && v.deletionTime === '') v.deletionTime = rfc3339(this.clock.now());
        return new Reply(204, null);
      }
    }
    if (kind === 'metadata') {
      if (method === 'GET' && list !== null) {
        if (!['1', 't', 'T', 'true', 'TRUE', 'True'].includes(list)) {
          if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(list)) return this.kvMetadata(mount, path);
          return new Reply(400, { errors: [`error parsing list parameter: invalid syntax`] });
        }
        return this.kvList(mount, path);
      }
      if (method === 'GET') return this.kvMetadata(mount, path);
      if (isWrite) {
        const key = this.kvKey(mount, path, true) as KvKey;
        if (typeof body['max_versions'] === 'number') key.maxVersions = body['max_versions'];
        if (typeof body['cas_required'] === 'boolean') key.casRequired = body['cas_required'];
        if (typeof body['delete_version_after'] === 'string')
          key.deleteVersionAfter = body['delete_version_after'];
        if (body['custom_metadata'] && typeof body['custom_metadata'] === 'object') {
          key.customMetadata = body['custom_metadata'] as Record<string, string>;
        }
        return new Reply(204, null);
      }
      if (method === 'DELETE') {
        this.kv.get(mount)?.delete(path);
        return new Reply(204, null);
      }
    }
    if ((kind === 'delete' || kind === 'undelete' || kind === 'destroy') && isWrite) {
      const key = this.kvKey(mount, path, false);
      const versions = Array.isArray(body['versions']) ? (body['versions'] as unknown[]) : [];
      if (versions.length === 0) return new Reply(400, { errors: ['no version number provided'] });
      for (const n of versions) {
        const v = key?.versions.get(Number(n));
        if (!v) continue;
        if (kind === 'delete' && v.deletionTime === '') v.deletionTime = rfc3339(this.clock.now());
        if (kind === 'undelete' && !v.destroyed) v.deletionTime = '';
        if (kind === 'destroy') v.destroyed = true;
      }
      return new Reply(204, null);
    }
    return new Reply(405, { errors: ['unsupported operation'] });
  }

  private kvRead(mount: string, path: string, versionParam: string | null): Reply {
    const key = this.kvKey(mount, path, false);
    if (!key || key.currentVersion === 0) return new Reply(404, { errors: [] });
    const n = versionParam === null || versionParam === '0' ? key.currentVersion : Number(versionParam);
    const v = key.versions.get(n);
    if (!v) return new Reply(404, { errors: [] });
    const meta = this.versionMetadata(key, n, v);
    const deleted = v.deletionTime !== '' && Date.parse(v.deletionTime) <= this.clock.now();
    if (deleted || v.destroyed) {
      return new Reply(404, this.envelope({ data: null, metadata: meta }, { mount_type: 'kv' }));
    }
    return new Reply(200, this.envelope({ data: v.data, metadata: meta }, { mount_type: 'kv' }));
  }

  private kvWrite(mount: string, path: string, body: Record<string, unknown>, internal: boolean): Reply {
    const data = body['data'];
    if (!data || typeof data !== 'object') return new Reply(400, { errors: ['no data provided'] });
    const existing = this.kvKey(mount, path, false);
    const options = body['options'] as { cas?: unknown } | undefined;
    const cas = options && typeof options.cas === 'number' ? options.cas : undefined;
    if (!internal) {
      if (cas === undefined && existing?.casRequired) {
        return new Reply(400, { errors: ['check-and-set parameter required for this call'] });
      }
      if (cas !== undefined && cas !== (existing?.currentVersion ?? 0)) {
        return new Reply(400, { errors: ['check-and-set parameter did not match the current version'] });
      }
    }
    const key = this.kvKey(mount, path, true) as KvKey;
    const now = this.clock.now();
    const n = key.currentVersion + 1;
    const after = parseDuration(key.deleteVersionAfter);
    const version: KvVersion = {
      data: data as Record<string, unknown>,
      createdTime: rfc3339(now),
      deletionTime: after > 0 ? rfc3339(now + after) : '',
      destroyed: false,
    };
    key.versions.set(n, version);
    key.currentVersion = n;
    if (key.oldestVersion === 0) key.oldestVersion = 1;
    key.updatedTime = version.createdTime;
    const max = key.maxVersions > 0 ? key.maxVersions : 10;
    while (key.versions.size > max) {
      key.versions.delete(key.oldestVersion);
      key.oldestVersion += 1;
    }
    const meta = this.versionMetadata(key, n, version);
    return new Reply(200, this.envelope(meta, { mount_type: 'kv' }));
  }

  private kvMetadata(mount: string, path: string): Reply {
    const key = this.kvKey(mount, path, false);
    if (!key) return new Reply(404, { errors: [] });
    const versions: Record<string, unknown> = {};
    for (const [n, v] of key.versions) {
      versions[String(n)] = {
        created_time: v.createdTime,
        deletion_time: v.deletionTime,
        destroyed: v.destroyed,
      };
    }
    return new Reply(
      200,
      this.envelope(
        {
          cas_required: key.casRequired,
          created_time: key.createdTime,
          current_version: key.currentVersion,
          delete_version_after: key.deleteVersionAfter,
          max_versions: key.maxVersions,
          oldest_version: key.oldestVersion,
          updated_time: key.updatedTime,
          custom_metadata: key.customMetadata,
          versions,
        },
        { mount_type: 'kv' },
      ),
    );
  }

  private kvList(mount: string, path: string): Reply {
    const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
    const keys = new Set<string>();
    for (const name of this.kv.get(mount)?.keys() ?? []) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) return new Reply(404, { errors: [] });
    return new Reply(200, this.envelope({ keys: [...keys].sort() }, { mount_type: 'kv' }));
  }
}
