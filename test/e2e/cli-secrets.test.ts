// End to end: `keyward init` and `keyward secrets …` in a child process, with real files and stdin.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FileBackend } from '../../src/secrets/file/file-backend.js';

const root = path.resolve(import.meta.dirname, '../..');
const canary = `cnry_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;

/**
 * Only init/secrets, so each spawn stays fast (the full entry point loads the MCP server); the
 * first test goes through src/main.ts to prove the commands are registered in program.ts.
 */
const harness = `
import { Command } from 'commander';
import { registerInitCommand } from ${JSON.stringify(path.join(root, 'src/cli/commands/init.ts'))};
import { registerSecretsCommand } from ${JSON.stringify(path.join(root, 'src/cli/commands/secrets.ts'))};
const program = new Command('keyward');
registerInitCommand(program);
registerSecretsCommand(program);
await program.parseAsync(process.argv.slice(1), { from: 'user' });
`;

function keyward(
  args: string[],
  stdin?: string,
  entry: 'harness' | 'main' = 'harness',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const node =
    entry === 'main'
      ? ['--import', 'tsx', path.join(root, 'src/main.ts')]
      : ['--import', 'tsx', '--input-type=module', '-e', harness];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...node, ...args], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

let dir: string;
let configFile: string;

beforeAll(() => {
  dir = path.join(mkdtempSync(path.join(tmpdir(), 'kw-cli-')), 'home');
  configFile = path.join(dir, 'tools.config.json');
});
afterAll(() => rmSync(path.dirname(dir), { recursive: true, force: true }));

describe('keyward init + secrets (child process)', () => {
  it('init writes a valid config, a 0600 key and store, and prints the next steps', async () => {
    const r = await keyward(['init', '--dir', dir], undefined, 'main');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of ['tools.config.json', 'master.key', 'secrets.enc']) {
      expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    }
    expect(r.stdout).toContain(`keyward secrets set github --config ${configFile}`);
    const entry = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
      mcpServers: { keyward: { command: string; args: string[] } };
    };
    expect(entry.mcpServers.keyward.command).toBe(process.execPath);
    expect(entry.mcpServers.keyward.args).toEqual([
      path.join(root, 'dist/bin/keyward.js'),
      'serve',
      '--config',
      configFile,
    ]);
    const { config } = loadConfigFile(configFile);
    expect(config.backends.local).toMatchObject({ type: 'file', path: path.join(dir, 'secrets.enc') });
    expect(config.tools.github_get_repo?.permission).toBe('github:read');
  });

  it('init refuses to overwrite existing files (exit 1, one line, files untouched)', async () => {
    const keyBefore = readFileSync(path.join(dir, 'master.key'));
    const r = await keyward(['init', '--dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: refusing to overwrite .*--force/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'master.key')).equals(keyBefore)).toBe(true);
  });

  it('secrets set reads stdin; list shows name and version but never the value; a server sees rotation', async () => {
    const set = await keyward(['secrets', 'set', 'github', '--config', configFile], `${canary}\n`);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('stored github version 1 in backend "local"\n');

    const loaded = loadConfigFile(configFile);
    const local = loaded.config.backends.local;
    if (local?.type !== 'file') throw new Error('expected a file backend');
    const server = await FileBackend.open({
      path: local.path,
      keyPath: local.keyPath,
      clock: systemClock,
      logger: silentLogger(),
      watchIntervalMs: 20,
    });
    try {
      expect((await server.get({ ref: 'github' })).value).toBe(canary);
      const changed = new Promise<string | undefined>((resolve) => server.onChange(resolve));

      const rotate = await keyward(
        ['secrets', 'rotate', 'github', '--config', configFile],
        `${canary}_v2\r\n`,
      );
      expect(rotate.code).toBe(0);
      expect(rotate.stdout).toContain('rotated github to version 2');
      await expect(changed).resolves.toBe('github');
      expect((await server.get({ ref: 'github' })).value).toBe(`${canary}_v2`);
    } finally {
      await server.close();
    }

    const list = await keyward(['secrets', 'list', '--config', configFile]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+VERSION\s+CREATED\s+UPDATED\n/);
    expect(list.stdout).toMatch(/\ngithub\s+2\s+\d{4}-/);
    for (const out of [set, list]) expect(out.stdout + out.stderr).not.toContain(canary);
    expect(readFileSync(path.join(dir, 'secrets.enc')).includes(Buffer.from(canary))).toBe(false);
  });

  it('rm removes; errors are one line on stderr with exit 1', async () => {
    const rm = await keyward(['secrets', 'rm', 'github', '--config', configFile]);
    expect(rm.code).toBe(0);
    const again = await keyward(['secrets', 'rm', 'github', '--config', configFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: credential_not_found: no secret named "github" in the file store\n');
    const empty = await keyward(['secrets', 'set', 'x', '--config', configFile, '--backend', 'nope'], 'v');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('error: unknown backend "nope" (configured: local)\n');
  });
});
