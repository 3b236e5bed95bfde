/** `keyward check` refuses what a server would refuse only at start (issue 13). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { coreConfig } from '../helpers/configs.js';

function write(config: Record<string, unknown>): string {
  const dir = tempDir();
  const file = path.join(dir, 'tools.config.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

describe('keyward check', () => {
  it('refuses a non-loopback server.http.host without authentication', async () => {
    const file = write({
      ...coreConfig('/tmp/x', 'http://127.0.0.1:1'),
      server: { http: { host: '0.0.0.0' } },
    });
    const result = await runCli(['check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /server\.http\.host: non-loopback bind \(0\.0\.0\.0\) needs authentication/,
    );
  });

  it('refuses grants in Redis without cache.encryptionKey', async () => {
    const file = write({
      ...coreConfig('/tmp/x', 'http://127.0.0.1:1'),
      cache: { type: 'redis', url: 'redis://127.0.0.1:6379' },
      grants: { store: 'redis' },
    });
    const result = await runCli(['check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cache\.encryptionKey: grants\.store redis needs cache\.encryptionKey/);
  });
});
