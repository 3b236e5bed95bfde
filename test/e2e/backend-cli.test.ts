/**
 * Issue 4 from an operator's seat: `keyward check --probe` against healthy, sealed, misconfigured
 * and denying backends (exit codes and actionable messages), and `keyward secrets list` on Vault
 * and AWS (names and versions, never values). The built CLI in child processes, real emulators.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSmEmulator } from '../emulators/aws-sm-emulator.js';
import { VaultEmulator } from '../emulators/vault-emulator.js';
import { findCanary, makeCanary } from '../helpers/canary.js';
import { runCli, tempDir, writeJson, type CliResult } from '../helpers/cli.js';

const ROLE_ID = makeCanary('kwrole');
const SECRET_ID = makeCanary('kwsecretid');
const WRONG_SECRET_ID = makeCanary('kwwrongid');
const AWS_SECRET_KEY = makeCanary('kwawssecret');
const VAULT_API = makeCanary();
const VAULT_ACME = makeCanary();
const AWS_API = makeCanary();
const AWS_ACME = makeCanary();
const CANARIES = [
  ROLE_ID,
  SECRET_ID,
  WRONG_SECRET_ID,
  AWS_SECRET_KEY,
  VAULT_API,
  VAULT_ACME,
  AWS_API,
  AWS_ACME,
];

let vault: VaultEmulator;
let aws: AwsSmEmulator;
let dir: string;
/** A port nothing listens on. */
let closedPort: number;
const outputs: string[] = [];

async function keyward(args: string[], configFile = 'tools.config.json'): Promise<CliResult> {
  const r = await runCli([...args, '--config', path.join(dir, configFile)]);
  outputs.push(r.stdout, r.stderr);
  expect(r.stderr, 'no stack trace').not.toMatch(/\n\s+at /);
  return r;
}

function config(vaultOverrides: Record<string, unknown> = {}): Record<string, unknown> {
  const bearer = { type: 'bearer' };
  const origins = ['https://api.example.com'];
  return {
    agents: { local: { roles: ['owner'], tenant: 'acme' } },
    identity: { stdio: { agent: 'local' } },
    backends: {
      vault: {
        type: 'vault',
        address: vault.url,
        auth: { method: 'approle', roleId: { file: 'role-id' }, secretId: { file: 'secret-id' } },
        timeoutMs: 1000,
        retries: 0,
        ...vaultOverrides,
      },
      aws: {
        type: 'aws-secrets-manager',
        region: 'eu-west-1',
        endpoint: aws.url,
        credentials: { accessKeyId: { env: 'KW_TEST_AWS_KEY_ID' }, secretAccessKey: { file: 'aws-secret' } },
        timeoutMs: 1000,
        retries: 0,
      },
    },
    credentials: {
      vault_api: { backend: 'vault', ref: 'keyward/api', inject: bearer, origins },
      vault_tenant: { backend: 'vault', ref: 'tenants/{tenant}/api', inject: bearer, origins },
      aws_api: { backend: 'aws', ref: 'keyward/api', inject: bearer, origins },
    },
    tools: {
      get_thing: {
        description: 'GET a thing',
        permission: 'api:read',
        credential: 'vault_api',
        request: { method: 'GET', url: 'https://api.example.com/thing' },
      },
    },
    policy: { rules: [{ id: 'read', effect: 'allow', roles: ['owner'], permissions: ['api:read'] }] },
    audit: { type: 'sqlite', path: path.join(dir, 'audit.db') },
    grants: { store: 'memory' },
  };
}

function line(out: string, backend: string): string {
  return out.split('\n').find((l) => l.includes(` ${backend} (`)) ?? '';
}

beforeAll(async () => {
  process.env.KW_TEST_AWS_KEY_ID = 'AKIAKEYWARDTEST';
  vault = new VaultEmulator();
  await vault.start();
  vault.addAppRole({ roleId: ROLE_ID, secretId: SECRET_ID });
  vault.putKv('keyward/api', { value: VAULT_API });
  vault.putKv('tenants/acme/api', { value: VAULT_ACME });
  vault.putKv('tenants/acme/api', { value: `${VAULT_ACME}-2` });
  aws = new AwsSmEmulator();
  await aws.start();
  aws.create('keyward/api', AWS_API);
  aws.create('tenants/acme/api', AWS_ACME);

  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  dir = tempDir('keyward-backend-cli-');
  writeFileSync(path.join(dir, 'role-id'), ROLE_ID, { mode: 0o600 });
  writeFileSync(path.join(dir, 'secret-id'), SECRET_ID, { mode: 0o600 });
  writeFileSync(path.join(dir, 'wrong-secret-id'), WRONG_SECRET_ID, { mode: 0o600 });
  writeFileSync(path.join(dir, 'aws-secret'), AWS_SECRET_KEY, { mode: 0o600 });
  writeJson(path.join(dir, 'tools.config.json'), config());
  writeJson(
    path.join(dir, 'bad-approle.json'),
    config({
      auth: { method: 'approle', roleId: { file: 'role-id' }, secretId: { file: 'wrong-secret-id' } },
    }),
  );
  writeJson(path.join(dir, 'wrong-address.json'), config({ address: `http://127.0.0.1:${closedPort}` }));
});

afterAll(async () => {
  delete process.env.KW_TEST_AWS_KEY_ID;
  await vault?.stop();
  await aws?.stop();
});

describe('keyward check --probe', () => {
  it('healthy Vault and AWS: exit 0, each backend ok with what was checked', async () => {
    const r = await keyward(['check', '--probe']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(line(r.stdout, 'vault')).toBe(
      `  ok   vault (vault): Vault at ${vault.url} is reachable and unsealed; approle login works ` +
        '(1/1 fixed credentials readable; 1 per-tenant/agent credentials are checked at call time)',
    );
    expect(line(r.stdout, 'aws')).toMatch(
      /^ {2}ok {3}aws \(aws-secrets-manager\): .*reachable.*\(1\/1 fixed credentials readable\)$/,
    );
    // The probe logged in with AppRole and revoked its token on the way out.
    expect(vault.count('/v1/auth/approle/login')).toBe(1);
    expect(vault.count('/v1/auth/token/revoke-self')).toBe(1);
  });

  it('sealed Vault: exit 1, says so and how to fix it; AWS still reported ok', async () => {
    vault.sealed = true;
    let r: CliResult;
    try {
      r = await keyward(['check', '--probe']);
    } finally {
      vault.sealed = false;
    }
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'vault')).toBe(
      `  FAIL vault (vault): Vault at ${vault.url} is sealed: unseal it (\`vault operator unseal\`)`,
    );
    expect(line(r.stdout, 'aws')).toMatch(/^ {2}ok {3}aws /);
    expect(r.stderr).toBe('error: 1 backend check(s) failed\n');
  });

  it('a bad AppRole secret id: exit 1, names role_id/secret_id, never prints the value', async () => {
    const r = await keyward(['check', '--probe'], 'bad-approle.json');
    expect(r.code).toBe(1);
    const vaultLine = line(r.stdout, 'vault');
    expect(vaultLine).toMatch(
      /^ {2}FAIL vault \(vault\): Vault AppRole login refused at http:\/\/127\.0\.0\.1:\d+: role_id or secret_id is wrong, expired or used up/,
    );
    expect(findCanary(r.stdout + r.stderr, WRONG_SECRET_ID)).toEqual([]);
    expect(r.stderr).toBe('error: 1 backend check(s) failed\n');
  });

  it('a wrong Vault address: exit 1, points at backends.vault.address', async () => {
    const r = await keyward(['check', '--probe'], 'wrong-address.json');
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'vault')).toBe(
      `  FAIL vault (vault): cannot reach Vault at http://127.0.0.1:${closedPort} (ECONNREFUSED): ` +
        'check backends.vault.address and the network',
    );
  });

  it('AWS denying access: exit 1, names the credential and the IAM permission to grant', async () => {
    aws.accessDenied = true;
    let r: CliResult;
    try {
      r = await keyward(['check', '--probe']);
    } finally {
      aws.accessDenied = false;
    }
    expect(r.code).toBe(1);
    const awsLine = line(r.stdout, 'aws');
    expect(awsLine).toMatch(/^ {2}FAIL aws \(aws-secrets-manager\): /);
    expect(awsLine).toContain(
      'credential "aws_api": no permission to read it (allow secretsmanager:GetSecretValue on it in the IAM policy)',
    );
    // The service's own message (which names the account and the principal) is not repeated.
    expect(awsLine).not.toMatch(/arn:aws|123456789012/);
    expect(line(r.stdout, 'vault')).toMatch(/^ {2}ok {3}vault /);
    expect(r.stderr).toBe('error: 1 backend check(s) failed\n');
  });
});

describe('keyward secrets list', () => {
  it('--backend vault lists KV names with current versions, never values', async () => {
    const r = await keyward(['secrets', 'list', '--backend', 'vault']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+VERSION\s+CREATED\s+UPDATED\n/);
    expect(r.stdout).toMatch(/\nkeyward\/api\s+1\s+\d{4}-/);
    expect(r.stdout).toMatch(/\ntenants\/acme\/api\s+2\s+\d{4}-/);
  });

  it('--backend aws lists names with their AWSCURRENT version ids, never values', async () => {
    const r = await keyward(['secrets', 'list', '--backend', 'aws']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+VERSION\s+CREATED\s+UPDATED\n/);
    for (const name of ['keyward/api', 'tenants/acme/api']) {
      const version = aws.versionIdOf(name, 'AWSCURRENT') ?? 'missing';
      expect(r.stdout).toMatch(new RegExp(`\\n${name.replace('/', '\\/')}\\s+${version}\\s+\\d{4}-`));
    }
  });

  it('no canary (value, AppRole ids, AWS secret key) appears in any CLI output', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(14);
    const everything = outputs.join('\n');
    for (const canary of CANARIES) expect(findCanary(everything, canary), canary).toEqual([]);
  });
});
