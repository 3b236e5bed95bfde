/**
 * Loads tools.config.json: parse, validate against the zod schema, resolve paths, then check the
 * cross-references zod cannot see. Every problem is reported with its JSON path; no stack traces.
 */
import { readFileSync, statSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configSchema, type KeywardConfig } from './schema.js';
import { DEFAULTS } from './defaults.js';
import { placeholderNames as placeholders } from '../core/placeholders.js';
import { PRINCIPAL_PLACEHOLDERS, refCollision, refPlaceholders } from '../secrets/ref-template.js';

export interface LoadedConfig {
  readonly config: KeywardConfig;
  /** Absolute path of the config file (or '<inline>'). */
  readonly file: string;
  /** Directory that relative paths in the config are resolved against. */
  readonly baseDir: string;
}

export interface ConfigIssue {
  path: string;
  message: string;
}

export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return path.join(homedir(), p.slice(2));
  return p;
}

export function resolvePath(p: string, baseDir: string): string {
  const expanded = expandHome(p);
  return path.isAbsolute(expanded) ? expanded : path.resolve(baseDir, expanded);
}

/** The config file a command uses: --config, else ./tools.config.json, else ~/.keyward/tools.config.json. */
export function findConfigFile(explicit: string | undefined): string {
  if (explicit) return path.resolve(explicit);
  const local = path.resolve(DEFAULTS.configFile);
  if (existsSync(local)) return local;
  const home = resolvePath(path.join(DEFAULTS.home, DEFAULTS.configFile), process.cwd());
  if (existsSync(home)) return home;
  return local;
}

export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (typeof s === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out || '(root)';
}

function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

export function loadConfigFile(file: string): LoadedConfig {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file not found: ${absolute} (run \`keyward init\` or pass --config)`
        : `cannot read config file ${absolute}: ${code ?? 'unknown error'}`,
    );
  }
  checkConfigFileMode(absolute);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${absolute} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw, absolute, path.dirname(absolute));
}

/**
 * The config decides where credentials go: whoever can write it can send a key to their own
 * origin. Like ssh with its files: writable by others is refused, writable by the group is
 * warned about on every start (a umask of 002 makes that the default on some systems).
 */
export function checkConfigFileMode(
  file: string,
  warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  if ((mode & 0o002) !== 0) {
    throw new ConfigError(
      `${file} is writable by other users (mode ${octal}): anyone could send your credentials elsewhere; run \`chmod o-w ${file}\``,
    );
  }
  if ((mode & 0o020) !== 0) {
    warn(
      `warning: ${file} is writable by its group (mode ${octal}): group members can change where credentials are sent; run \`chmod g-w ${file}\``,
    );
  }
}

export function parseConfig(raw: unknown, file = '<inline>', baseDir = process.cwd()): LoadedConfig {
  // jitless: zod's default first parse of an object schema generates and compiles a fast path
  // (`new Function`) for the next parses; the config is parsed once per start, so compiling it
  // only cost start-up time (about half of this parse's CPU, issue 18 cold start). Same result.
  const parsed = configSchema.safeParse(raw, { jitless: true });
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new ConfigError(`invalid config ${file}`, issues);
  }
  const config = parsed.data;
  resolveConfigPaths(config, baseDir);
  const issues = crossCheck(config);
  if (issues.length > 0) throw new ConfigError(`invalid config ${file}`, issues);
  return { config, file, baseDir };
}

function resolveConfigPaths(config: KeywardConfig, baseDir: string): void {
  for (const backend of Object.values(config.backends)) {
    if (backend.type === 'file') {
      backend.path = resolvePath(backend.path, baseDir);
      backend.keyPath = resolvePath(backend.keyPath, baseDir);
    }
  }
  if (config.audit.type === 'sqlite') config.audit.path = resolvePath(config.audit.path, baseDir);
  config.audit.checkpoints = resolvePath(
    config.audit.checkpoints ??
      (config.audit.type === 'sqlite'
        ? `${config.audit.path}.checkpoints`
        : path.join('.keyward', `audit-${config.audit.schema}.checkpoints`)),
    baseDir,
  );
  config.grants.path = resolvePath(config.grants.path, baseDir);
  for (const source of config.toolSources) source.openapi = resolvePath(source.openapi, baseDir);
}

function originOf(url: string): string {
  return new URL(url).origin;
}

/** Checks that zod cannot express: references between sections, origins, placeholders. */
function crossCheck(config: KeywardConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];

  for (const [name, provider] of Object.entries(config.connections.providers)) {
    const at = `connections.providers.${name}`;
    if (
      provider.issuer === undefined &&
      (provider.authorizationUrl === undefined || provider.tokenUrl === undefined)
    )
      issues.push({
        path: at,
        message: 'set issuer (OpenID Connect discovery) or authorizationUrl and tokenUrl',
      });
    if (provider.clientSecret !== undefined && !config.backends[provider.clientSecret.backend])
      issues.push({
        path: `${at}.clientSecret.backend`,
        message: `unknown backend "${provider.clientSecret.backend}"`,
      });
    if (provider.verifyUser === 'signIn' && config.connections.signIn === undefined)
      issues.push({
        path: `${at}.verifyUser`,
        message:
          '"signIn" needs connections.signIn (the identity provider people sign in with); or use "idToken" / "none"',
      });
    if (provider.verifyUser === 'idToken' && provider.issuer === undefined)
      issues.push({ path: `${at}.verifyUser`, message: '"idToken" needs an OpenID Connect issuer' });
  }
  const signInSecret = config.connections.signIn?.clientSecret;
  if (signInSecret !== undefined && !config.backends[signInSecret.backend])
    issues.push({
      path: 'connections.signIn.clientSecret.backend',
      message: `unknown backend "${signInSecret.backend}"`,
    });

  for (const [id, cred] of Object.entries(config.credentials)) {
    if (!config.backends[cred.backend]) {
      issues.push({ path: `credentials.${id}.backend`, message: `unknown backend "${cred.backend}"` });
    }
    for (const v of refPlaceholders(cred.ref)) {
      if (!PRINCIPAL_PLACEHOLDERS.includes(v)) {
        issues.push({
          path: `credentials.${id}.ref`,
          message: `"{${v}}" is not allowed: refs may only use {tenant}, {agent} and {user} of the authenticated principal`,
        });
      }
    }
    const collision = refCollision(cred.ref);
    if (collision !== undefined) issues.push({ path: `credentials.${id}.ref`, message: collision });
    if (cred.connection !== undefined) {
      if (config.connections.providers[cred.connection] === undefined)
        issues.push({
          path: `credentials.${id}.connection`,
          message: `unknown provider "${cred.connection}" (connections.providers)`,
        });
      if (!refPlaceholders(cred.ref).includes('user'))
        issues.push({
          path: `credentials.${id}.ref`,
          message: 'a user connection is stored per user: the ref must use {user}',
        });
      if (cred.inject.type !== 'header' && cred.inject.type !== 'bearer')
        issues.push({
          path: `credentials.${id}.inject`,
          message: 'a user connection injects its access token: use "bearer" or "header"',
        });
    }
    cred.origins.forEach((o, i) => {
      const u = new URL(o);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') {
        issues.push({ path: `credentials.${id}.origins[${i}]`, message: 'must be an http(s) origin' });
      }
    });
    if (cred.inject.type === 'oauth2-client-credentials' || cred.inject.type === 'oauth2-refresh-token') {
      const tokenOrigin = originOf(cred.inject.tokenUrl);
      if (!cred.origins.map(originOf).includes(tokenOrigin)) {
        issues.push({
          path: `credentials.${id}.inject.tokenUrl`,
          message: `token endpoint origin ${tokenOrigin} must be listed in credentials.${id}.origins`,
        });
      }
    }
  }

  for (const [toolId, tool] of Object.entries(config.tools)) {
    const base = `tools.${toolId}`;
    const url = new URL(tool.request.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      issues.push({ path: `${base}.request.url`, message: 'must be an http(s) URL' });
    }
    if (placeholders(url.host).length > 0 || /[{}]|%7B|%7D/i.test(url.host)) {
      issues.push({
        path: `${base}.request.url`,
        message: 'the origin must be fixed: no {placeholders} in the host',
      });
    }
    const properties = (tool.input as { properties?: Record<string, unknown> }).properties ?? {};
    const used = [
      ...placeholders(tool.request.url),
      ...Object.values(tool.request.query).flatMap(placeholders),
      ...Object.values(tool.request.headers).flatMap(placeholders),
    ];
    for (const p of used) {
      if (!Object.prototype.hasOwnProperty.call(properties, p)) {
        issues.push({
          path: `${base}.request`,
          message: `placeholder {${p}} has no matching property in ${base}.input`,
        });
      }
    }
    if (tool.credential !== undefined) {
      const cred = config.credentials[tool.credential];
      if (!cred) {
        issues.push({ path: `${base}.credential`, message: `unknown credential "${tool.credential}"` });
      } else if (!cred.origins.map(originOf).includes(url.origin)) {
        issues.push({
          path: `${base}.request.url`,
          message: `origin ${url.origin} is not in credentials.${tool.credential}.origins; the credential would never be sent there`,
        });
      }
    }
    if (tool.fallback && 'tool' in tool.fallback && !config.tools[tool.fallback.tool]) {
      issues.push({ path: `${base}.fallback.tool`, message: `unknown tool "${tool.fallback.tool}"` });
    }
  }

  // A token id is the session owner (`token:<id>`): two entries with one id could use each other's
  // sessions; two entries with one hash would make the first silently win.
  const tokenIds = new Set<string>();
  const tokenHashes = new Set<string>();
  config.identity.tokens.forEach((entry, i) => {
    const id = entry.id ?? entry.sha256.slice(0, 16); // as static-token-verifier.ts names it
    if (tokenIds.has(id) && !tokenHashes.has(entry.sha256))
      issues.push({ path: `identity.tokens[${i}].id`, message: `duplicate token id "${id}"` });
    tokenIds.add(id);
    if (tokenHashes.has(entry.sha256))
      issues.push({ path: `identity.tokens[${i}].sha256`, message: 'the same token is listed twice' });
    tokenHashes.add(entry.sha256);
  });
  // An agent's token must never open the console: operator tokens are their own list, and one
  // token cannot be both.
  const operatorNames = new Set<string>();
  const operatorHashes = new Set<string>();
  config.console.operators.forEach((operator, i) => {
    if (operatorNames.has(operator.name))
      issues.push({ path: `console.operators[${i}].name`, message: `duplicate operator "${operator.name}"` });
    operatorNames.add(operator.name);
    if (tokenHashes.has(operator.sha256))
      issues.push({
        path: `console.operators[${i}].sha256`,
        message:
          'this token is also an agent token (identity.tokens); an operator needs a token of their own',
      });
    if (operatorHashes.has(operator.sha256))
      issues.push({ path: `console.operators[${i}].sha256`, message: 'the same token is listed twice' });
    operatorHashes.add(operator.sha256);
  });

  const seen = new Set<string>();
  config.policy.rules.forEach((rule, i) => {
    if (seen.has(rule.id))
      issues.push({ path: `policy.rules[${i}].id`, message: `duplicate rule id "${rule.id}"` });
    seen.add(rule.id);
    for (const agent of rule.agents ?? []) {
      if (agent !== '*' && !config.agents[agent] && !config.identity.tokens.some((t) => t.agent === agent)) {
        issues.push({ path: `policy.rules[${i}].agents`, message: `unknown agent "${agent}"` });
      }
    }
  });

  if (config.identity.stdio && !config.agents[config.identity.stdio.agent]) {
    issues.push({ path: 'identity.stdio.agent', message: `unknown agent "${config.identity.stdio.agent}"` });
  }
  issues.push(...startChecks(config));
  return issues;
}

/**
 * Checks that used to fail only when a server started (the JWT verifier, the grant store and the
 * consent-state store refuse these configs): made here so `keyward check` reports them too.
 */
function startChecks(config: KeywardConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const jwt = config.identity.jwt;
  if (jwt !== undefined && jwt.jwksUri === undefined && jwt.jwksFile === undefined)
    issues.push({ path: 'identity.jwt', message: 'set jwksUri or jwksFile (where the signing keys are)' });
  if (config.grants.store === 'redis') {
    if (config.cache.type !== 'redis')
      issues.push({
        path: 'grants.store',
        message:
          'redis needs cache.type redis (its url is shared): set cache to { "type": "redis", "url": "redis://…" }',
      });
    else if (config.cache.encryptionKey === undefined)
      issues.push({
        path: 'cache.encryptionKey',
        message:
          'grants.store redis needs cache.encryptionKey (it seals grants against forgery): a 32-byte key shared by every replica, { "env": "…" } or { "file": "…" }',
      });
  }
  const connections = Object.values(config.credentials).some((c) => c.connection !== undefined);
  if (
    connections &&
    config.cache.type === 'redis' &&
    config.cache.encryptionKey === undefined &&
    config.grants.store !== 'redis' // reported above
  )
    issues.push({
      path: 'cache.encryptionKey',
      message:
        'user connections with a Redis cache need cache.encryptionKey: it seals the consent state replicas share',
    });
  return issues;
}

export function formatConfigError(error: ConfigError): string {
  if (error.issues.length === 0) return `error: ${error.message}`;
  return [`error: ${error.message}`, ...error.issues.map((i) => `  - ${i.path}: ${i.message}`)].join('\n');
}
