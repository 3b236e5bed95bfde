/**
 * The non-negotiable, proven: with a random canary credential, successful, failing, denied,
 * rejected and timed-out calls leave the canary in no sink — results, errors, stderr at debug
 * level, the audit database's bytes, and CLI output — in any encoding.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type Upstream } from '../fixtures/upstream.js';
import { canaryForms, findCanary, makeCanary } from '../helpers/canary.js';
import { connectStdio, makeWorkspace, runCli } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

const CANARY = makeCanary();
const ROTATED_CANARY = makeCanary('kwrotated');

let upstream: Upstream;
let dir: string;
let configPath: string;
const outputs: { where: string; text: string }[] = [];
let reflected = '';

beforeAll(async () => {
  upstream = await startUpstream([CANARY]);
  ({ dir, configPath } = await makeWorkspace(
    (d) => {
      const config = coreConfig(d, upstream.origin) as { tools: Record<string, unknown> };
      config.tools.denied_with_key = {
        description: 'denied by policy',
        permission: 'admin:write',
        credential: 'api',
        request: { method: 'GET', url: `${upstream.origin}/echo/raw` },
      };
      return config;
    },
    { api: CANARY },
  ));

  const session = await connectStdio(configPath, { args: ['--log-level', 'trace'] });
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<void> => {
    try {
      outputs.push({
        where: `result of ${name}`,
        text: JSON.stringify(await session.client.callTool({ name, arguments: args })),
      });
    } catch (error) {
      outputs.push({ where: `error of ${name}`, text: String(error) + JSON.stringify(error) });
    }
  };
  await call('get_repo', { owner: 'acme', repo: 'widgets' });
  await call('echo_raw');
  await call('echo_encodings');
  await call('echo_header');
  await call('server_error');
  await call('ratelimited');
  await call('slow');
  await call('huge');
  await call('redirect', { to: `${upstream.origin}/echo/raw` });
  await call('denied_with_key');
  await call('get_repo', { owner: 'acme' });
  // What the agent sends itself comes back as sent (redacting it would confirm the guess: issue 12
  // §1); checked on its own below, not in the scan, since the agent already holds those characters.
  reflected = JSON.stringify(
    await session.client.callTool({ name: 'get_repo', arguments: { owner: CANARY.slice(0, 20), repo: 'x' } }),
  );
  await call('no_such_tool');
  // Rotation, then an upstream that accepts neither key: credential_invalid after one re-fetch.
  const rotated = await runCli(['secrets', 'rotate', 'api', '--config', configPath], {
    input: ROTATED_CANARY,
  });
  outputs.push({ where: 'secrets rotate', text: rotated.stdout + rotated.stderr });
  upstream.options.acceptedKeys = new Set(['nothing-matches']);
  await call('echo_raw');
  upstream.options.acceptedKeys = new Set([ROTATED_CANARY]);
  await call('echo_encodings');
  await session.close();
  outputs.push({ where: 'server stderr', text: session.stderr() });

  for (const args of [
    ['audit', 'tail', '-n', '500'],
    ['audit', 'tail', '-n', '500', '--json'],
    ['audit', 'query', '--json'],
    ['audit', 'verify'],
    ['secrets', 'list'],
    ['check'],
  ]) {
    const result = await runCli([...args, '--config', configPath]);
    outputs.push({ where: `keyward ${args.join(' ')}`, text: result.stdout + result.stderr });
  }
}, 120_000);

afterAll(async () => {
  await upstream?.close();
});

describe('canary leak test', () => {
  it('really exercised the canary: the upstream received it', () => {
    const sent = upstream.requests.map((r) => String(r.headers.authorization));
    expect(sent).toContain(`Bearer ${CANARY}`);
    expect(sent).toContain(`Bearer ${ROTATED_CANARY}`);
    // The detector itself finds every form it checks.
    for (const form of canaryForms(CANARY))
      expect(findCanary(`xx${form}xx`, CANARY).length).toBeGreaterThan(0);
  });

  it('debug logs were actually written to stderr', () => {
    const stderr = outputs.find((o) => o.where === 'server stderr')?.text ?? '';
    expect(stderr.length).toBeGreaterThan(100);
  });

  it('a reflected argument comes back exactly as the agent sent it, and nothing more of the key', () => {
    expect(reflected).toContain(`"owner":"${CANARY.slice(0, 20)}"`);
    expect(findCanary(reflected.split(CANARY.slice(0, 20)).join('|'), CANARY)).toEqual([]);
  });

  it('no result, error, log line or CLI output holds either canary in any encoding', () => {
    for (const { where, text } of outputs) {
      expect(findCanary(text, CANARY), where).toEqual([]);
      expect(findCanary(text, ROTATED_CANARY), where).toEqual([]);
    }
  });

  it("the audit database's bytes (and its write-ahead journals) hold neither canary", () => {
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(
      (f) => f.startsWith('audit.db') && statSync(path.join(dir, f)).isFile(),
    );
    expect(files).toContain('audit.db');
    for (const file of files) {
      const bytes = readFileSync(path.join(dir, file));
      expect(findCanary(bytes, CANARY), file).toEqual([]);
      expect(findCanary(bytes, ROTATED_CANARY), file).toEqual([]);
    }
  });

  it('the config file holds neither canary, and the store holds it only encrypted', () => {
    expect(findCanary(readFileSync(configPath), CANARY)).toEqual([]);
    const store = path.join(dir, 'secrets.enc');
    expect(existsSync(store)).toBe(true);
    expect(findCanary(readFileSync(store), CANARY)).toEqual([]);
    expect(findCanary(readFileSync(store), ROTATED_CANARY)).toEqual([]);
  });
});
