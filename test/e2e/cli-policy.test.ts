/** `keyward check` names a bad CEL condition by path; `keyward policy explain` shows decision and rule ids. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';

function config(when: string): Record<string, unknown> {
  return {
    agents: { bot: { roles: ['dev'], tenant: 'acme' } },
    identity: { stdio: { agent: 'bot' } },
    tools: {
      pay: {
        permission: 'pay:send',
        request: { method: 'POST', url: 'https://api.example.com/pay', body: 'args' },
        input: { type: 'object', properties: { amount: { type: 'number' }, owner: { type: 'string' } } },
      },
    },
    policy: {
      rules: [
        { id: 'small', effect: 'allow', permissions: ['pay:send'], when },
        { id: 'big', effect: 'approve', permissions: ['pay:send'], when: 'args.amount > 100' },
        { id: 'not-evil', effect: 'deny', permissions: ['pay:*'], when: 'args.owner == "evil"' },
      ],
    },
  };
}

describe('policy CLI', () => {
  it('check fails on a bad condition and names its path', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'tools.config.json');
    writeFileSync(file, JSON.stringify(config('args.amount <= ')));
    const res = await runCli(['check', '--config', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('policy.rules[0].when');
    expect(res.stderr).toContain('CEL');
  });

  it('explain shows allow / approve / deny with the deciding rule ids', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'tools.config.json');
    writeFileSync(file, JSON.stringify(config('args.amount <= 100')));
    expect((await runCli(['check', '--config', file])).code).toBe(0);
    const explain = async (args: unknown) => {
      const res = await runCli([
        'policy',
        'explain',
        '--config',
        file,
        '--tool',
        'pay',
        '--args',
        JSON.stringify(args),
        '--json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as { effect: string; ruleIds: string[] };
    };
    expect(await explain({ amount: 5, owner: 'acme' })).toMatchObject({
      effect: 'allow',
      ruleIds: ['small'],
    });
    expect(await explain({ amount: 500, owner: 'acme' })).toMatchObject({
      effect: 'approve',
      ruleIds: ['big'],
    });
    expect(await explain({ amount: 5, owner: 'evil' })).toMatchObject({
      effect: 'deny',
      ruleIds: ['not-evil'],
    });
    const text = await runCli([
      'policy',
      'explain',
      '--config',
      file,
      '--tool',
      'pay',
      '--args',
      '{"amount":1,"owner":"acme"}',
    ]);
    expect(text.stdout).toContain('decision: allow');
    expect(text.stdout).toContain('rules: small');
  });
});
