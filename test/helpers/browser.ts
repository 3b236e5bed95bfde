/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` package driven by playwright-core.
 * `.ci/run` installs the package when missing; only where no browser can be installed do the
 * browser tests skip, saying so (KEYWARD_REQUIRE_BROWSER=1 turns that skip into a failure).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from './cli.js';

export const CHROMIUM = process.env.KEYWARD_CHROMIUM ?? '/usr/bin/chromium';

export const browserAvailable = existsSync(CHROMIUM);

if (!browserAvailable) {
  const message = `browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (process.env.KEYWARD_REQUIRE_BROWSER === '1') throw new Error(message);
  process.stderr.write(`${message}\n`);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a container Chromium needs --no-sandbox; the others keep it off this machine's
    // closed network (no background connections, component updates or sync).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Where tests save screenshots (artifacts of the run; docs/approvals.md shows copies). */
export function screenshotPath(name: string): string {
  const dir = path.join(repoRoot, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}
