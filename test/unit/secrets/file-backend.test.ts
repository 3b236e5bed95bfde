// Tests of the encrypted file store: crypto, integrity, permissions, versions, fields, change events.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { ConfigError, KeywardError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { FileBackend, MAX_VERSIONS, createFileStore } from '../../../src/secrets/file/file-backend.js';
import {
  StoreIntegrityError,
  decryptStore,
  encryptStore,
  generateKey,
} from '../../../src/secrets/file/file-crypto.js';

let dir: string;
let storePath: string;
let keyPath: string;
const clock = new ManualClock();
const opened: FileBackend[] = [];

async function openStore(extra: { watchIntervalMs?: number } = {}): Promise<FileBackend> {
  const b = await FileBackend.open({ path: storePath, keyPath, clock, logger: silentLogger(), ...extra });
  opened.push(b);
  return b;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (error instanceof KeywardError) return error.code;
    if (error instanceof ConfigError) return `config: ${error.message}`;
    throw error;
  }
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kw-file-'));
  storePath = path.join(dir, 'secrets.enc');
  keyPath = path.join(dir, 'master.key');
  await createFileStore({ path: storePath, keyPath });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('file crypto', () => {
  it('round-trips and rejects a wrong key and any changed byte', () => {
    const key = generateKey();
    const sealed = encryptStore(key, Buffer.from('{"hello":"world"}'));
    expect(decryptStore(key, sealed).toString()).toBe('{"hello":"world"}');
    expect(sealed.includes(Buffer.from('world'))).toBe(false);
    expect(() => decryptStore(generateKey(), sealed)).toThrow(StoreIntegrityError);
    for (const i of [0, 9, 25, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(() => decryptStore(key, tampered)).toThrow(StoreIntegrityError);
    }
    expect(() => decryptStore(key, sealed.subarray(0, sealed.length - 3))).toThrow(StoreIntegrityError);
  });
});

describe('FileBackend', () => {
  it('creates the key and the store with mode 0600 and never writes the value in clear', async () => {
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    const b = await openStore();
    await b.set('github', 'ghp_canary_value_123');
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    expect(readFileSync(storePath).includes(Buffer.from('ghp_canary'))).toBe(false);
    const secret = await b.get({ ref: 'github' });
    expect(secret).toMatchObject({ value: 'ghp_canary_value_123', version: '1', keyId: 'file:github' });
  });

  it('refuses to overwrite an existing store without force', async () => {
    await expect(createFileStore({ path: storePath, keyPath })).rejects.toThrow(/already exists/);
  });

  it('fails the integrity check with a wrong key or a tampered byte, without leaking anything', async () => {
    const b = await openStore();
    await b.set('github', 'ghp_secret');
    await b.close();
    const good = readFileSync(storePath);
    const tampered = Buffer.from(good);
    const at = good.length - 5;
    tampered[at] = (tampered[at] ?? 0) ^ 0x80;
    writeFileSync(storePath, tampered, { mode: 0o600 });
    await expect(openStore()).rejects.toThrow(/failed its integrity check/);

    writeFileSync(storePath, good, { mode: 0o600 });
    writeFileSync(keyPath, generateKey().toString('base64'), { mode: 0o600 });
    await expect(openStore()).rejects.toThrow(/failed its integrity check/);
  });

  it('turns tampering after open into secret_backend_unavailable with a safe message', async () => {
    const b = await openStore();
    await b.set('github', 'ghp_secret');
    const bytes = readFileSync(storePath);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    writeFileSync(storePath, Buffer.concat([bytes, Buffer.from('x')]), { mode: 0o600 });
    const error = await b.get({ ref: 'github' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeywardError);
    expect((error as KeywardError).code).toBe('secret_backend_unavailable');
    expect((error as KeywardError).message).toBe('the secret store failed its integrity check');
    expect((error as KeywardError).message).not.toContain(dir);
  });

  it.skipIf(process.platform === 'win32')(
    'refuses a group/other-readable key file or store, naming the chmod fix',
    async () => {
      chmodSync(keyPath, 0o644);
      await expect(openStore()).rejects.toThrow(`run \`chmod 600 ${keyPath}\``);
      chmodSync(keyPath, 0o600);
      chmodSync(storePath, 0o640);
      await expect(openStore()).rejects.toThrow(`run \`chmod 600 ${storePath}\``);
      chmodSync(storePath, 0o600);
      await expect(openStore()).resolves.toBeInstanceOf(FileBackend);
    },
  );

  it('keeps versions, pins versions, rotates, lists without values, and removes', async () => {
    const b = await openStore();
    expect((await b.set('github', 'v1')).version).toBe('1');
    clock.advance(1000);
    expect((await b.rotate('github', 'v2')).version).toBe('2');
    expect((await b.get({ ref: 'github' })).value).toBe('v2');
    expect((await b.get({ ref: 'github', version: '1' })).value).toBe('v1');
    await b.set('other', 'x');

    const list = await b.list();
    expect(list.map((s) => [s.name, s.version])).toEqual([
      ['github', '2'],
      ['other', '1'],
    ]);
    expect(JSON.stringify(list)).not.toMatch(/"v1"|"v2"/);
    expect(list[0]?.createdAt).toBe(new Date(clock.now() - 1000).toISOString());
    expect(list[0]?.updatedAt).toBe(new Date(clock.now()).toISOString());

    for (let i = 3; i <= MAX_VERSIONS + 3; i++) await b.rotate('github', `v${i}`);
    const versions = await b.versions('github');
    expect(versions).toHaveLength(MAX_VERSIONS);
    expect(versions.at(-1)?.version).toBe(String(MAX_VERSIONS + 3));
    expect(await codeOf(b.get({ ref: 'github', version: '1' }))).toBe('credential_not_found');

    await expect(b.rotate('missing', 'v')).rejects.toMatchObject({ code: 'credential_not_found' });
    await expect(b.rotate('github', undefined, { trigger: true })).rejects.toThrow(/cannot rotate/);
    await b.remove('github');
    expect(await codeOf(b.get({ ref: 'github' }))).toBe('credential_not_found');
    expect((await b.list()).map((s) => s.name)).toEqual(['other']);
  });

  it('selects JSON fields and fills fields; a missing field is credential_not_found', async () => {
    const b = await openStore();
    await b.set('basic', JSON.stringify({ username: 'alice', password: 'pw', n: 3 }));
    const whole = await b.get({ ref: 'basic' });
    expect(whole.fields).toEqual({ username: 'alice', password: 'pw' });
    const pw = await b.get({ ref: 'basic', field: 'password' });
    expect(pw.value).toBe('pw');
    expect(pw.fields?.username).toBe('alice');
    expect(await codeOf(b.get({ ref: 'basic', field: 'nope' }))).toBe('credential_not_found');
    await b.set('plain', 'not json');
    expect(await codeOf(b.get({ ref: 'plain', field: 'password' }))).toBe('credential_not_found');
  });

  it('sees a write from another instance and fires onChange for that name', async () => {
    const server = await openStore({ watchIntervalMs: 20 });
    const cli = await openStore();
    await cli.set('github', 'old');
    expect((await server.get({ ref: 'github' })).value).toBe('old');

    const changed = new Promise<string | undefined>((resolve) => server.onChange((ref) => resolve(ref)));
    await cli.rotate('github', 'new');
    await expect(changed).resolves.toBe('github');
    expect((await server.get({ ref: 'github' })).value).toBe('new');
  });

  it('serializes concurrent writers without losing an update', async () => {
    const a = await openStore();
    const b = await openStore();
    await Promise.all([a.set('one', '1'), b.set('two', '2'), a.set('three', '3'), b.set('four', '4')]);
    const c = await openStore();
    expect((await c.list()).map((s) => s.name)).toEqual(['four', 'one', 'three', 'two']);
  });
});
