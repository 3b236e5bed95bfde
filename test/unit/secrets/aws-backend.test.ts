/** AWS Secrets Manager backend against the emulator over real sockets, with the real AWS SDK v3 client. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/core/clock.js';
import { KeywardError } from '../../../src/core/errors.js';
import { awsBackendSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { AwsSecretsManagerBackend } from '../../../src/secrets/aws/aws-backend.js';
import { AwsSmEmulator } from '../../emulators/aws-sm-emulator.js';

let aws: AwsSmEmulator;
let dir: string;
const open: AwsSecretsManagerBackend[] = [];

function backend(extra: Record<string, unknown> = {}): AwsSecretsManagerBackend {
  const key = path.join(dir, 'secret-key');
  writeFileSync(key, 'emulator-secret-access-key');
  chmodSync(key, 0o600);
  process.env['KW_TEST_AWS_AKID'] = 'AKIAEMULATOR';
  const config = awsBackendSchema.parse({
    type: 'aws-secrets-manager',
    region: 'us-east-1',
    endpoint: aws.url,
    credentials: { accessKeyId: { env: 'KW_TEST_AWS_AKID' }, secretAccessKey: { file: key } },
    timeoutMs: 500,
    ...extra,
  });
  const b = new AwsSecretsManagerBackend('aws', config, {
    logger: silentLogger(),
    clock: new ManualClock(),
    baseDir: dir,
  });
  open.push(b);
  return b;
}

async function failure(p: Promise<unknown>): Promise<KeywardError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return error as KeywardError;
  }
  throw new Error('expected a failure');
}

beforeEach(async () => {
  aws = new AwsSmEmulator();
  await aws.start();
  dir = mkdtempSync(path.join(tmpdir(), 'kw-aws-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  await aws.stop();
});

describe('reads', () => {
  it('reads by name and by ARN, a JSON field, a binary secret, a version and a stage', async () => {
    const v1 = aws.create('prod/github', JSON.stringify({ token: 'ghp_json', user: 'bot' }));
    aws.create('prod/plain', 'plain-value');
    aws.create('prod/bin', Buffer.from('binary-value'));
    const b = backend();
    const s = await b.get({ ref: 'prod/github', field: 'token' });
    expect([s.value, s.version, s.fields?.['user']]).toEqual(['ghp_json', v1, 'bot']);
    expect((await b.get({ ref: aws.arnOf('prod/plain') })).value).toBe('plain-value');
    expect((await b.get({ ref: 'prod/bin' })).value).toBe('binary-value');
    await b.rotate('prod/plain', 'plain-2');
    const prev = await b.get({ ref: 'prod/plain', stage: 'AWSPREVIOUS' });
    expect(prev.value).toBe('plain-value');
    expect((await b.get({ ref: 'prod/plain', version: prev.version })).value).toBe('plain-value');
    expect((await b.get({ ref: 'prod/plain' })).value).toBe('plain-2');
    const missing = await failure(b.get({ ref: 'prod/github', field: 'nope' }));
    expect(missing.code).toBe('credential_not_found');
  });

  it('maps not found, marked-for-deletion, access denied and KMS failures without leaking names', async () => {
    aws.create('tenants/a/key', 'value-a');
    aws.create('tenants/del', 'value-del');
    aws.markForDeletion('tenants/del');
    const b = backend();
    const nf = await failure(b.get({ ref: 'tenants/zzz/key' }));
    expect(nf.code).toBe('credential_not_found');
    const del = await failure(b.get({ ref: 'tenants/del' }));
    expect(del.code).toBe('credential_revoked');
    const stale = await failure(b.get({ ref: 'tenants/a/key', version: 'no-such-version' }));
    expect(stale.code).toBe('credential_revoked');
    aws.deniedSecrets.add('tenants/a/key');
    const denied = await failure(b.get({ ref: 'tenants/a/key' }));
    expect(denied.code).toBe('credential_invalid');
    expect(aws.count('GetSecretValue', 'tenants/a/key')).toBe(2); // no retry inside the backend
    aws.deniedSecrets.clear();
    aws.decryptionFailure = true;
    expect((await failure(b.get({ ref: 'tenants/a/key' }))).code).toBe('credential_invalid');
    for (const e of [nf, del, stale, denied]) {
      expect(e.message).not.toMatch(/tenants|arn:|value-|123456789012/);
    }
  });

  it.each([
    ['throttle', 'throttling'],
    ['fail500', 'unavailable'],
    ['nonJson', 'unavailable'],
  ] as const)('%s is secret_backend_unavailable after one request', async (sw, text) => {
    aws.create('s', 'v');
    const b = backend();
    aws[sw] = true;
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.retryAfterSeconds).toBeGreaterThan(0);
    expect(e.message).toContain(text);
    expect(aws.count('GetSecretValue')).toBe(1);
  });

  it('a hung call fails at the explicit timeout', async () => {
    aws.create('s', 'v');
    const b = backend({ timeoutMs: 150 });
    aws.hang = true;
    const e = await failure(b.get({ ref: 's' }));
    expect(e.code).toBe('secret_backend_unavailable');
    expect(e.message).toContain('in time');
  });

  it('a refused connection is unavailable', async () => {
    const b = backend({ endpoint: 'http://127.0.0.1:1' });
    expect((await failure(b.get({ ref: 's' }))).code).toBe('secret_backend_unavailable');
  });
});

describe('rotation awareness', () => {
  it('a rejected version that is no longer AWSCURRENT is refetched as the current one', async () => {
    const v1 = aws.create('r', 'one');
    const b = backend();
    await b.rotate('r', 'two');
    const s = await b.get({ ref: 'r' }, { rejectedVersion: v1 });
    expect(s.value).toBe('two');
    expect(aws.count('GetSecretValue')).toBe(1);
  });

  it('a rejected AWSCURRENT tries AWSPENDING once while a rotation is in flight', async () => {
    const v1 = aws.create('r', 'one');
    aws.rotator = () => 'pending-value';
    const b = backend();
    const { version } = await b.rotate('r', undefined, { trigger: true });
    expect(aws.versionIdOf('r', 'AWSPENDING')).toBe(version);
    expect((await b.get({ ref: 'r' })).value).toBe('one');
    const retried = await b.get({ ref: 'r' }, { rejectedVersion: v1 });
    expect([retried.value, retried.version]).toEqual(['pending-value', version]);
    // A second trigger while the first is in flight is refused.
    expect((await failure(b.rotate('r', undefined, { trigger: true }))).code).toBe('credential_invalid');
    aws.finishRotation('r');
    expect((await b.get({ ref: 'r' })).value).toBe('pending-value');
  });

  it('a rejected AWSCURRENT without a rotation in flight returns the current version', async () => {
    const v1 = aws.create('r', 'one');
    const s = await backend().get({ ref: 'r' }, { rejectedVersion: v1 });
    expect(s.version).toBe(v1);
    expect(aws.count('GetSecretValue')).toBe(2);
  });
});

describe('writes, list and probe', () => {
  it('set creates then puts; remove marks for deletion; list gives names and current versions', async () => {
    const b = backend();
    const changed: (string | undefined)[] = [];
    b.onChange((r) => changed.push(r));
    const first = await b.set('new/one', 'first');
    const second = await b.set('new/one', 'second');
    expect(second.version).not.toBe(first.version);
    await b.set('new/two', 'x');
    const list = await b.list();
    expect(list.map((s) => [s.name, s.version])).toEqual([
      ['new/one', second.version],
      ['new/two', expect.any(String)],
    ]);
    await b.remove('new/two');
    expect((await failure(b.get({ ref: 'new/two' }))).code).toBe('credential_revoked');
    expect(changed).toEqual(['new/one', 'new/one', 'new/two', 'new/two']);
  });

  it('probe: ok, ok-but-no-ListSecrets, unreachable', async () => {
    const b = backend();
    expect(await b.probe()).toMatchObject({ ok: true });
    aws.accessDenied = true;
    const limited = await b.probe();
    expect(limited.ok).toBe(true);
    expect(limited.message).toMatch(/ListSecrets is not allowed/);
    const far = backend({ endpoint: 'http://127.0.0.1:1' });
    const p = await far.probe();
    expect(p.ok).toBe(false);
    expect(p.message).toMatch(/cannot reach AWS Secrets Manager/);
  });
});
