/**
 * The repository's own tools.config.json (issue 17): valid for `keyward check`, found without
 * flags from the repository root, and serving on the embedded defaults from a clean copy, where
 * the first start creates the 0600 key file and an empty store under ./.keyward.
 */
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectStdio, repoRoot, runCli, tempDir, type StdioSession } from '../helpers/cli.js';

const rootConfig = path.join(repoRoot, 'tools.config.json');

describe('the root tools.config.json', () => {
  let session: StdioSession | undefined;
  afterEach(async () => {
    await session?.close();
    session = undefined;
  });

  it('passes keyward check, found without --config from the repository root', async () => {
    const result = await runCli(['check'], { cwd: repoRoot });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`ok: ${rootConfig}`);
    // who may approve each approve rule (issue 12 §3)
    expect(result.stdout).toContain(
      'approve rule github-write: approved by any on stdio, operator over HTTP',
    );
  });

  it('serves from a clean copy: the first start creates a private key and store, then lists and refuses structurally', async () => {
    const dir = tempDir('keyward-root-config-');
    copyFileSync(rootConfig, path.join(dir, 'tools.config.json'));
    const keyFile = path.join(dir, '.keyward', 'master.key');
    expect(existsSync(keyFile)).toBe(false);

    session = await connectStdio(path.join(dir, 'tools.config.json'));
    const { tools } = await session.client.listTools();
    expect(tools.map((t) => t.name)).toContain('github_get_repo');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, '.keyward', 'secrets.enc')).mode & 0o777).toBe(0o600);

    // No token stored yet: a structured error that says what to do, not a crash.
    const result = await session.client.callTool({
      name: 'github_get_repo',
      arguments: { owner: 'a', repo: 'b' },
    });
    expect(result.isError).toBe(true);
    expect((result.structuredContent as { error: { code: string } }).error.code).toBe('credential_not_found');
  });

  it('never creates a new key beside an existing store (old secrets would become unreadable)', async () => {
    const dir = tempDir('keyward-root-config-');
    copyFileSync(rootConfig, path.join(dir, 'tools.config.json'));
    const storeOnly = path.join(dir, '.keyward');
    mkdirSync(storeOnly, { mode: 0o700 });
    writeFileSync(path.join(storeOnly, 'secrets.enc'), 'not empty', { mode: 0o600 });
    const result = await runCli(['secrets', 'list', '--config', path.join(dir, 'tools.config.json')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/key file .*master\.key not found/);
    expect(existsSync(path.join(storeOnly, 'master.key'))).toBe(false);
  });
});
