import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AuthError } from '../../../src/identity/auth-error.js';
import { bearerToken, createPrincipalResolver } from '../../../src/identity/principal-resolver.js';
import { findTokenHash, generateToken, sha256Hex } from '../../../src/identity/token-hash.js';
import { JwtIssuer } from '../../fixtures/jwt-issuer.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Clock } from '../../../src/core/clock.js';
import { SessionRegistry } from '../../../src/transports/session-registry.js';

const AUDIENCE = 'http://127.0.0.1:8787/mcp';

function config(input: Partial<ConfigInput>) {
  return configSchema.parse({ agents: { ci: { roles: ['reader'], tenant: 'acme' } }, ...input });
}

async function rejection(p: Promise<unknown>): Promise<AuthError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
}

describe('static tokens', () => {
  const token = generateToken();
  const other = generateToken();
  const resolver = createPrincipalResolver({
    config: config({
      identity: {
        tokens: [
          { agent: 'ci', sha256: sha256Hex(other), id: 'other', tenant: 't2' },
          { agent: 'ci', sha256: sha256Hex(token), id: 'ci-main' },
        ],
      },
    }),
    baseDir: '.',
    logger: silentLogger(),
  });

  it('generates distinct prefixed tokens and finds them by hash', () => {
    expect(token).toMatch(/^kw_[A-Za-z0-9_-]{43}$/);
    expect(token).not.toBe(other);
    expect(findTokenHash(token, [sha256Hex(other), sha256Hex(token)])).toBe(1);
    expect(findTokenHash('nope', [sha256Hex(other)])).toBe(-1);
  });

  it('maps a known token to its agent, with tenant and roles from the agent entry', async () => {
    expect(resolver.required).toBe(true);
    const auth = await resolver.authenticate(`Bearer ${token}`);
    expect(auth.principal).toMatchObject({
      agent: 'ci',
      tenant: 'acme',
      roles: ['reader'],
      authMethod: 'token',
    });
    expect(auth.subject).toBe('token:ci-main');
    const second = await resolver.authenticate(`bearer ${other}`);
    expect(second.principal.tenant).toBe('t2');
    expect(second.subject).toBe('token:other');
  });

  it('refuses a missing, malformed or unknown token without echoing it', async () => {
    expect((await rejection(resolver.authenticate(undefined))).kind).toBe('missing_token');
    expect((await rejection(resolver.authenticate(`Basic ${token}`))).kind).toBe('invalid_token');
    const unknown = await rejection(resolver.authenticate(`Bearer ${token}x`));
    expect(unknown.kind).toBe('invalid_token');
    expect(unknown.status).toBe(401);
    expect(unknown.message).not.toContain(token);
  });

  it('parses the bearer header strictly', () => {
    expect(bearerToken('Bearer abc.def-ghi')).toBe('abc.def-ghi');
    expect(() => bearerToken('Bearer a b')).toThrow(AuthError);
    expect(() => bearerToken('')).toThrow(AuthError);
  });
});

describe('no identity configured', () => {
  it('acts as the default agent and does not require a token', async () => {
    const resolver = createPrincipalResolver({
      config: config({ identity: { stdio: { agent: 'ci' } } }),
      baseDir: '.',
      logger: silentLogger(),
    });
    expect(resolver.required).toBe(false);
    const auth = await resolver.authenticate(undefined);
    expect(auth.principal).toMatchObject({ agent: 'ci', tenant: 'acme', authMethod: 'none' });
  });
});

describe('JWT', () => {
  let issuer: JwtIssuer;
  let jwksUri: string;
  let resolver: ReturnType<typeof createPrincipalResolver>;
  const staticToken = generateToken();

  beforeAll(async () => {
    issuer = await JwtIssuer.create();
    jwksUri = await issuer.serve();
    resolver = createPrincipalResolver({
      config: config({
        identity: {
          tokens: [{ agent: 'ci', sha256: sha256Hex(staticToken) }],
          jwt: { issuers: [issuer.issuer], audience: AUDIENCE, jwksUri, clockToleranceSeconds: 5 },
        },
      }),
      baseDir: '.',
      logger: silentLogger(),
    });
  });
  afterAll(() => issuer.close());

  /** A resolver for this issuer with another claim mapping. */
  const resolverWithClaims = (claims: Record<string, string | null>) =>
    createPrincipalResolver({
      config: config({
        identity: { jwt: { issuers: [issuer.issuer], audience: AUDIENCE, jwksUri, claims } },
      }),
      baseDir: '.',
      logger: silentLogger(),
    });

  it('accepts a valid RS256 and ES256 token and maps claims', async () => {
    const token = await issuer.mint(AUDIENCE, {
      sub: 'bot-1',
      claims: { tenant: 'globex', roles: ['writer', 'reader'] },
    });
    const auth = await resolver.authenticate(`Bearer ${token}`);
    expect(auth.principal).toMatchObject({
      agent: 'bot-1',
      tenant: 'globex',
      roles: ['writer', 'reader'],
      authMethod: 'jwt',
    });
    expect(auth.subject).toBe(`jwt:${JSON.stringify([issuer.issuer, 'bot-1', 'bot-1'])}`);
    expect(auth.expiresAt).toBeGreaterThan(Date.now());
    const es = await issuer.mint(AUDIENCE, {
      alg: 'ES256',
      sub: 'ci',
      claims: { tenant: 'acme', roles: 'a b' },
    });
    const esAuth = await resolver.authenticate(`Bearer ${es}`);
    // roles may come from a space-separated claim
    expect(esAuth.principal).toMatchObject({ agent: 'ci', tenant: 'acme', roles: ['a', 'b'] });
  });

  // Issue 12 §5: a claim the config maps is never defaulted. Each of these got the `default` (or
  // the configured agent's) tenant before.
  const claimCases: [string, Record<string, unknown>, RegExp][] = [
    ['no tenant claim', { roles: ['r'] }, /"tenant"/],
    ['a tenant with a space', { tenant: 'Acme Corp', roles: ['r'] }, /"tenant"/],
    ['a tenant with a path', { tenant: 't1/../t2', roles: ['r'] }, /"tenant"/],
    ['a tenant of ".."', { tenant: '..', roles: ['r'] }, /"tenant"/],
    ['a tenant that is not a string', { tenant: ['acme'], roles: ['r'] }, /"tenant"/],
    ['no roles claim', { tenant: 'acme' }, /"roles"/],
    ['a role that is not a name', { tenant: 'acme', roles: ['reader', 'admin role'] }, /"roles"/],
    ['roles that are not a list', { tenant: 'acme', roles: { admin: true } }, /"roles"/],
  ];
  for (const [name, claims, reason] of claimCases) {
    it(`refuses a token with ${name} (401, never a default)`, async () => {
      const token = await issuer.mint(AUDIENCE, { sub: 'ci', claims });
      const error = await rejection(resolver.authenticate(`Bearer ${token}`));
      expect(error.status).toBe(401);
      expect(error.kind).toBe('invalid_token');
      expect(error.message).toMatch(reason);
    });
  }

  it('refuses a token that lives longer than maxTokenLifetimeSeconds (default 24 h)', async () => {
    const claims = { tenant: 'acme', roles: ['r'] };
    const long = await issuer.mint(AUDIENCE, { sub: 'ci', claims, expiresIn: 86_400 + 600 });
    expect((await rejection(resolver.authenticate(`Bearer ${long}`))).message).toMatch(/lifetime/);
    const day = await issuer.mint(AUDIENCE, { sub: 'ci', claims, expiresIn: 86_000 });
    expect((await resolver.authenticate(`Bearer ${day}`)).principal.tenant).toBe('acme');
  });

  it('takes tenant and roles from the agent entry only when the config says so (claims: null)', async () => {
    const fromConfig = resolverWithClaims({ tenant: null, roles: null });
    const token = await issuer.mint(AUDIENCE, { sub: 'ci', claims: { tenant: 'evil', roles: ['admin'] } });
    expect((await fromConfig.authenticate(`Bearer ${token}`)).principal).toMatchObject({
      tenant: 'acme',
      roles: ['reader'],
    });
  });

  it('binds sessions to the user too: people sharing an agent and a `sub` never share a subject', async () => {
    // Security review of 2026-12-04: with `claims.user: "email"` (the agent is a client id in `sub`),
    // Bob's token had Alice's subject and could use, resume and end her sessions.
    const byEmail = resolverWithClaims({ tenant: null, roles: null, user: 'email' });
    const as = async (email: string) =>
      byEmail.authenticate(`Bearer ${await issuer.mint(AUDIENCE, { sub: 'ci', claims: { email } })}`);
    const alice = await as('alice@example.com');
    const bob = await as('bob@example.com');
    expect(alice.principal).toMatchObject({ agent: 'ci', user: 'alice@example.com' });
    expect(bob.principal).toMatchObject({ agent: 'ci', user: 'bob@example.com' });
    expect(bob.subject).not.toBe(alice.subject);
    expect((await as('alice@example.com')).subject).toBe(alice.subject);
    // What the HTTP transports do with it: Bob cannot use Alice's session (403), and it stays hers.
    const registry = new SessionRegistry<undefined>({ now: () => 0 } as Clock);
    registry.add({
      id: 's1',
      transport: undefined,
      server: {} as Server,
      subject: alice.subject,
      principal: alice.principal,
      lastSeen: 0,
    });
    expect(registry.lookup('s1', bob)).toBe('mismatch');
    expect(registry.lookup('s1', { ...bob, subject: alice.subject })).toBe('mismatch');
    expect(registry.lookup('s1', await as('alice@example.com'))).toMatchObject({ id: 's1' });
  });

  it('still accepts static tokens beside JWT', async () => {
    const auth = await resolver.authenticate(`Bearer ${staticToken}`);
    expect(auth.principal.authMethod).toBe('token');
  });

  const bad: [string, () => Promise<string>, RegExp][] = [
    ['wrong audience', () => issuer.mint('https://other.example/mcp'), /aud/],
    ['expired', () => issuer.mint(AUDIENCE, { expiresIn: -60 }), /expired/],
    ['no exp', () => issuer.mint(AUDIENCE, { expiresIn: null }), /exp/],
    ['not yet valid', () => issuer.mint(AUDIENCE, { notBeforeIn: 600 }), /nbf/],
    ['wrong issuer', () => issuer.mint(AUDIENCE, { iss: 'https://evil.example' }), /iss/],
    ['unknown kid', () => issuer.mint(AUDIENCE, { kid: 'nope' }), /key/],
    ['alg none', () => Promise.resolve(issuer.unsigned(AUDIENCE)), /./],
    ['HS256 with the public key', () => issuer.hsWithPublicKey(AUDIENCE), /algorithm/],
    ['bad signature', async () => (await issuer.mint(AUDIENCE)).slice(0, -4) + 'AAAA', /signature|malformed/],
  ];
  for (const [name, make, reason] of bad) {
    it(`refuses a token: ${name}`, async () => {
      const token = await make();
      const error = await rejection(resolver.authenticate(`Bearer ${token}`));
      expect(error.status).toBe(401);
      expect(error.message).toMatch(reason);
      expect(error.message).not.toContain(token);
    });
  }

  it('refuses a token without an agent claim', async () => {
    const token = await issuer.mint(AUDIENCE, { sub: 'has spaces' });
    expect((await rejection(resolver.authenticate(`Bearer ${token}`))).message).toMatch(/sub/);
  });
});
