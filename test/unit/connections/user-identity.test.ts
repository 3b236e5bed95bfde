// Issue 16: the principal's user (JWT claim, token entry, stdio), `{user}` in refs with the same
// safe-segment rules as {tenant}/{agent}, and the config checks of user connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { ConfigError, KeywardError } from '../../../src/core/errors.js';
import { createPrincipalResolver } from '../../../src/identity/principal-resolver.js';
import { generateToken, sha256Hex } from '../../../src/identity/token-hash.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { compileRefTemplate, refCollision } from '../../../src/secrets/ref-template.js';
import { principalFromConfig } from '../../../src/server/gateway.js';
import { JwtIssuer } from '../../fixtures/jwt-issuer.js';

const AUDIENCE = 'http://127.0.0.1:8787/mcp';

function issuesOf(input: Record<string, unknown>): string[] {
  try {
    parseConfig({ agents: { a: { roles: [] } }, ...input });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}

const provider = {
  issuer: 'https://idp.example.com',
  clientId: 'keyward',
  clientSecret: { backend: 'env', ref: 'CLIENT' },
  verifyUser: 'idToken',
};

function connectionConfig(ref: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    backends: { env: { type: 'env' } },
    connections: { providers: { idp: provider } },
    credentials: {
      me: {
        backend: 'env',
        ref,
        connection: 'idp',
        inject: { type: 'bearer' },
        origins: ['https://api.example.com'],
        ...more,
      },
    },
  };
}

describe('{user} in credential refs', () => {
  it('expands from the principal, with the safe-segment rules of {tenant} and {agent}', () => {
    const t = compileRefTemplate('connections/{tenant}/{user}/github');
    expect(t.templated).toBe(true);
    expect(t.expand({ tenant: 'acme', agent: 'bot', user: 'alice@example.com' })).toBe(
      'connections/acme/alice@example.com/github',
    );
    for (const user of [undefined, '..', '.', 'a/b', 'a b', 'x'.repeat(129), '']) {
      expect(() =>
        t.expand({ tenant: 'acme', agent: 'bot', ...(user === undefined ? {} : { user }) }),
      ).toThrow(KeywardError);
    }
  });

  it('refuses placeholders that could collide, and accepts {user} in configs', () => {
    expect(refCollision('keys/{tenant}-{user}')).toMatch(/same ref/);
    expect(refCollision('keys/{tenant}/{user}')).toBeUndefined();
    expect(issuesOf(connectionConfig('connections/{tenant}/{user}/idp'))).toEqual([]);
  });
});

describe('user connection config', () => {
  it('needs {user} in the ref, a known provider, and a bearer or header injection', () => {
    expect(issuesOf(connectionConfig('connections/{tenant}/idp'))).toContainEqual(
      expect.stringMatching(/credentials\.me\.ref: .*must use \{user\}/),
    );
    const unknown = connectionConfig('c/{user}');
    (
      (unknown.credentials as Record<string, Record<string, unknown>>).me as Record<string, unknown>
    ).connection = 'nope';
    expect(issuesOf(unknown)).toContainEqual(expect.stringMatching(/unknown provider "nope"/));
    expect(
      issuesOf(connectionConfig('c/{user}', { inject: { type: 'query', param: 'token' } })),
    ).toContainEqual(expect.stringMatching(/credentials\.me\.inject/));
  });

  it('needs an issuer or both endpoints, a known client-secret backend, and signIn for verifyUser "signIn"', () => {
    const issues = issuesOf({
      backends: { env: { type: 'env' } },
      connections: {
        providers: {
          gh: { clientId: 'x', clientSecret: { backend: 'nope', ref: 'y' } },
          oidc: { issuer: 'https://idp.example.com', clientId: 'x', verifyUser: 'none' },
          plain: {
            authorizationUrl: 'https://gh.example.com/authorize',
            tokenUrl: 'https://gh.example.com/token',
            clientId: 'x',
            verifyUser: 'idToken',
          },
        },
      },
    });
    expect(issues).toContainEqual(expect.stringMatching(/connections\.providers\.gh: set issuer/));
    expect(issues).toContainEqual(
      expect.stringMatching(/providers\.gh\.clientSecret\.backend: unknown backend/),
    );
    expect(issues).toContainEqual(
      expect.stringMatching(/providers\.gh\.verifyUser: "signIn" needs connections\.signIn/),
    );
    expect(issues).toContainEqual(expect.stringMatching(/providers\.plain\.verifyUser: "idToken" needs/));
    expect(issues.some((i) => i.includes('providers.oidc'))).toBe(false);
  });
});

describe("the principal's user", () => {
  let issuer: JwtIssuer;
  let jwksUri: string;
  beforeAll(async () => {
    issuer = await JwtIssuer.create();
    jwksUri = await issuer.serve();
  });
  afterAll(() => issuer.close());

  const resolverFor = (input: Partial<ConfigInput>) =>
    createPrincipalResolver({ config: configSchema.parse(input), baseDir: '.', logger: silentLogger() });

  it('comes from the `sub` claim by default, or the configured claim; a missing or unsafe claim means no user', async () => {
    const byDefault = resolverFor({
      identity: { jwt: { issuers: [issuer.issuer], audience: AUDIENCE, jwksUri } },
    });
    const token = await issuer.mint(AUDIENCE, { sub: 'alice', claims: { tenant: 'acme', roles: [] } });
    expect((await byDefault.authenticate(`Bearer ${token}`)).principal.user).toBe('alice');

    const byEmail = resolverFor({
      identity: {
        jwt: {
          issuers: [issuer.issuer],
          audience: AUDIENCE,
          jwksUri,
          claims: { agent: 'azp', tenant: 'tenant', roles: 'roles', user: 'email' },
        },
      },
    });
    const withEmail = await issuer.mint(AUDIENCE, {
      sub: 'auth0|123',
      claims: { azp: 'assistant', tenant: 'acme', roles: [], email: 'alice@example.com' },
    });
    const p = (await byEmail.authenticate(`Bearer ${withEmail}`)).principal;
    expect(p).toMatchObject({ agent: 'assistant', user: 'alice@example.com' });
    const unsafe = await issuer.mint(AUDIENCE, {
      sub: 'x',
      claims: { azp: 'assistant', tenant: 'acme', roles: [], email: '../bob' },
    });
    expect((await byEmail.authenticate(`Bearer ${unsafe}`)).principal.user).toBeUndefined();
  });

  it('comes from a static token entry, or identity.stdio.user', async () => {
    const token = generateToken();
    const r = resolverFor({
      agents: { a: { roles: [] } },
      identity: { tokens: [{ agent: 'a', sha256: sha256Hex(token), user: 'bob' }] },
    });
    expect((await r.authenticate(`Bearer ${token}`)).principal.user).toBe('bob');
    const config = configSchema.parse({
      agents: { a: { roles: [] }, b: { roles: [] } },
      identity: { stdio: { agent: 'a', user: 'carol' } },
    });
    expect(principalFromConfig(config, undefined).user).toBe('carol');
    // Another agent chosen by name does not inherit stdio's user.
    expect(principalFromConfig(config, 'b').user).toBeUndefined();
  });
});
