import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';

describe('keyward tokens create --config', () => {
  it('adds only the hash of the new token to identity.tokens and keeps the config valid', async () => {
    const dir = tempDir();
    expect((await runCli(['init', '--dir', dir])).code).toBe(0);
    const file = `${dir}/tools.config.json`;
    const before = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const created = await runCli(['tokens', 'create', '--agent', 'local', '--id', 'ci', '--config', file]);
    expect(created.code, created.stderr).toBe(0);
    const token = /token: (\S+)/.exec(created.stdout)?.[1] ?? '';
    expect(token.length).toBeGreaterThan(20);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token);
    const after = JSON.parse(text) as {
      identity: { tokens: { agent: string; id: string; sha256: string }[] };
    };
    expect(after.identity.tokens).toEqual([
      { agent: 'local', id: 'ci', sha256: createHash('sha256').update(token).digest('hex') },
    ]);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect((await runCli(['check', '--config', file])).code).toBe(0);
  });
});
