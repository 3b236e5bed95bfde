/** `keyward demo` (npm run demo) runs its whole story, including an operator's approval through the console. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('keyward demo', () => {
  it('walks every step: a call, a denial, an approval in the console, a rotation, a redacted echo, per-user OAuth, a verified audit', async () => {
    const demo = await runCli(['demo']);
    expect(demo.code, demo.stderr).toBe(0);
    const out = demo.stdout;
    expect(out).toContain('the API received the stored key: yes; the agent saw it: no');
    expect(out).toMatch(/approval console: http:\/\/127\.0\.0\.1:\d+\/console\//);
    expect(out).toMatch(/"url": "http:\/\/127\.0\.0\.1:\d+\/console\/approvals\/a_[\w-]+"/);
    expect(out).toMatch(/approved request a_[\w-]+ as operator "demo-operator"/);
    expect(out).toContain('"archived": "p2"');
    expect(out).toContain('list_projects → ok');
    expect(out).toMatch(/ok: \d+ records in \d+ writer chain/);
    // Step 8: per-user OAuth connections against the local OpenID Connect provider.
    expect(out).toMatch(
      /alice's agent calls whoami → authorization_required\n\s+url: http:\/\/127\.0\.0\.1:\d+\/oauth\/start\?ticket=/,
    );
    expect(out).toContain('consents (scripted as her browser) → Connected');
    expect(out).toContain('the API answers for user "alice"');
    expect(out).toContain("bob's link, opened and consented by alice → refused");
    expect(out).toMatch(/local-idp\tuser alice\ttenant demo/);
  }, 90_000);
});
