/**
 * Issue 12 §3: human approval must come from a human. Over HTTP the MCP client may be the agent
 * itself, so elicitation cannot approve unless the rule says so; an operator approval covers the
 * arguments the operator saw; the agent's text in a prompt cannot forge lines; the agent cannot
 * queue more than a few requests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../../helpers/browser.js';
import type { AuditSink } from '../../../src/audit/audit-sink.js';
import { ruleSchema, type RuleConfig } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import { KeywardError } from '../../../src/core/errors.js';
import type { AuditEvent, Principal } from '../../../src/core/types.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { Elicitor } from '../../../src/policy/authorizer.js';
import {
  CapabilityAuthorizer,
  MAX_PENDING_PER_PRINCIPAL,
} from '../../../src/policy/capability-authorizer.js';
import { compileCelCondition } from '../../../src/policy/cel-condition.js';
import { MemoryGrantStore } from '../../../src/policy/memory-grant-store.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { MemoryRateLimiter } from '../../../src/policy/rate-limiter.js';
import { capabilityMetaTools } from '../../../src/policy/meta-tools.js';
import { PINNED_ARGS } from '../../../src/policy/grant-store.js';
import { ELICITED_SCOPE } from '../../../src/policy/human-approval.js';

const audit = {
  append: (_e: AuditEvent) => Promise.resolve(),
} as unknown as AuditSink;
const rule = (r: Record<string, unknown>): RuleConfig =>
  ruleSchema.parse({ id: 'w', effect: 'approve', permissions: ['gh:write'], ...r });
const principal = (authMethod: string): Principal => ({
  agent: 'bot',
  tenant: 'acme',
  roles: [],
  attributes: {},
  authMethod,
});

function setup(rules: RuleConfig[], tools: [string, string][] = [['gh_write', 'gh:write']]) {
  const clock = new ManualClock();
  const grants = new MemoryGrantStore();
  const authorizer = new CapabilityAuthorizer(
    {
      engine: new PolicyEngine(rules, compileCelCondition),
      grants,
      rateLimiter: new MemoryRateLimiter(clock),
      audit,
      clock,
      logger: silentLogger(),
    },
    new Map(tools),
  );
  return { clock, grants, authorizer };
}

/** A client that approves everything it is asked: what an agent answering its own prompt does. */
function selfApprover(): { e: Elicitor; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    e: {
      elicit: (req) => {
        asked.push(req.message);
        return Promise.resolve({ action: 'accept', content: { approve: true } });
      },
    },
  };
}

const call = (p: Principal, args: Record<string, unknown>, elicitor?: Elicitor, tool = 'gh_write') => ({
  principal: p,
  tool,
  permission: 'gh:write',
  args,
  requestId: 'r',
  ...(elicitor === undefined ? {} : { elicitor }),
});

async function errorOf(p: Promise<unknown>): Promise<KeywardError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof KeywardError) return error;
    throw error;
  }
  throw new Error('expected a KeywardError');
}

describe('who may approve', () => {
  for (const method of ['token', 'jwt', 'none']) {
    it(`over HTTP (${method}) the agent's own client cannot approve by elicitation (default operator)`, async () => {
      const s = setup([rule({})]);
      const client = selfApprover();
      const error = await errorOf(s.authorizer.authorize(call(principal(method), { repo: 'x' }, client.e)));
      expect(error.code).toBe('approval_required');
      expect(error.approvalId).toMatch(/^a_/);
      expect(client.asked).toHaveLength(0);
      expect(await s.grants.listGrants({}, s.clock.now())).toHaveLength(0);
    });
  }

  it('on stdio the person in the client may approve (default any)', async () => {
    const s = setup([rule({})]);
    const client = selfApprover();
    await expect(
      s.authorizer.authorize(call(principal('stdio'), { repo: 'x' }, client.e)),
    ).resolves.toMatchObject({ via: 'grant' });
    expect(client.asked).toHaveLength(1);
  });

  it('a rule saying operator is never approved by elicitation, even on stdio', async () => {
    const s = setup([rule({ approval: 'operator' })]);
    const client = selfApprover();
    expect((await errorOf(s.authorizer.authorize(call(principal('stdio'), {}, client.e)))).code).toBe(
      'approval_required',
    );
    expect(client.asked).toHaveLength(0);
  });

  it('a rule saying any lets elicitation approve over HTTP (explicit opt-in)', async () => {
    const s = setup([rule({ approval: 'any' })]);
    const client = selfApprover();
    await expect(s.authorizer.authorize(call(principal('jwt'), {}, client.e))).resolves.toMatchObject({
      via: 'grant',
    });
  });

  it('an elicitation-only rule without an eliciting client opens no operator request', async () => {
    const s = setup([rule({ approval: 'elicitation' })]);
    const error = await errorOf(s.authorizer.authorize(call(principal('stdio'), {})));
    expect(error.code).toBe('approval_required');
    expect(error.message).toMatch(/elicitation only/);
    expect(await s.grants.listApprovals('pending', s.clock.now())).toHaveLength(0);
  });

  it('list_capabilities states the mode', async () => {
    const s = setup([rule({})]);
    const [http] = await s.authorizer.describe(principal('token'));
    const [stdio] = await s.authorizer.describe(principal('stdio'));
    expect(http).toMatchObject({ status: 'needs_approval', approval: 'operator' });
    expect(stdio).toMatchObject({ status: 'needs_approval', approval: 'any' });
  });
});

describe('an operator approves what they were shown', () => {
  it('the grant covers the arguments of the call that asked; other arguments ask again', async () => {
    const s = setup([rule({})]);
    const p = principal('token');
    const first = await errorOf(s.authorizer.authorize(call(p, { repo: 'docs', action: 'read' })));
    const answered = await s.grants.answerApproval(first.approvalId!, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
    });
    expect(answered?.grant).toBeDefined();
    // Same arguments (any key order): covered.
    await expect(s.authorizer.authorize(call(p, { action: 'read', repo: 'docs' }))).resolves.toMatchObject({
      via: 'grant',
    });
    // The agent swaps in what it really wanted: not covered, a new request.
    const swapped = await errorOf(s.authorizer.authorize(call(p, { repo: 'docs', action: 'wipe' })));
    expect(swapped.code).toBe('approval_required');
    expect(swapped.approvalId).not.toBe(first.approvalId);
  });

  it('anyArgs widens the grant, as an explicit choice', async () => {
    const s = setup([rule({})]);
    const p = principal('token');
    const first = await errorOf(s.authorizer.authorize(call(p, { repo: 'docs' })));
    await s.grants.answerApproval(first.approvalId!, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
      anyArgs: true,
    });
    await expect(s.authorizer.authorize(call(p, { repo: 'anything' }))).resolves.toMatchObject({
      via: 'grant',
    });
  });

  it(`an agent cannot queue more than ${MAX_PENDING_PER_PRINCIPAL} requests`, async () => {
    const s = setup([rule({})]);
    const p = principal('token');
    for (let i = 0; i < MAX_PENDING_PER_PRINCIPAL; i++) {
      expect((await errorOf(s.authorizer.authorize(call(p, { n: i })))).code).toBe('approval_required');
    }
    const over = await errorOf(s.authorizer.authorize(call(p, { n: 999 })));
    expect(over.code).toBe('rate_limited');
    expect(await s.grants.listApprovals('pending', s.clock.now())).toHaveLength(MAX_PENDING_PER_PRINCIPAL);
  });
});

/**
 * Two tools carry one permission; the operator reserved one of them (gh_write) for operators while
 * the other (gh_comment) may be approved in the client. A grant is per permission, so without care
 * the agent self-approves the lax tool and spends the grant on the strict one.
 */
describe('tools sharing a permission', () => {
  const rules = () => [
    rule({ id: 'comment', tools: ['gh_comment'], approval: 'any' }),
    rule({ id: 'write', tools: ['gh_write'], approval: 'operator' }),
  ];
  const tools: [string, string][] = [
    ['gh_comment', 'gh:write'],
    ['gh_write', 'gh:write'],
  ];

  it("a grant the agent's client elicited for the lax tool does not answer the operator-only tool", async () => {
    const s = setup(rules(), tools);
    const p = principal('jwt');
    const client = selfApprover();
    const scope = {
      ...client.e,
      elicit: (req: Parameters<NonNullable<Elicitor['elicit']>>[0]) => {
        client.asked.push(req.message);
        return Promise.resolve({
          action: 'accept' as const,
          content: { approve: true, scope: ELICITED_SCOPE.any },
        });
      },
    };
    await expect(s.authorizer.authorize(call(p, { body: 'hi' }, scope, 'gh_comment'))).resolves.toMatchObject(
      { via: 'grant' },
    );
    const error = await errorOf(s.authorizer.authorize(call(p, { body: 'hi' }, client.e, 'gh_write')));
    expect(error.code).toBe('approval_required');
    expect((await s.grants.listGrants({}, s.clock.now()))[0]?.used).toBe(1);
    const views = await s.authorizer.describe(p);
    expect(views.find((v) => v.tool === 'gh_write')).toMatchObject({ status: 'needs_approval', grants: [] });
    expect(views.find((v) => v.tool === 'gh_comment')?.grants).toHaveLength(1);
  });

  it('request_capability asks under the strictest rules of every tool carrying the permission', async () => {
    const s = setup(rules(), tools);
    const p = principal('jwt');
    const client = selfApprover();
    const outcome = await s.authorizer.requestCapability(
      p,
      { permission: 'gh:write' },
      { requestId: 'r', elicitor: client.e },
    );
    expect(outcome.status).toBe('pending');
    expect(outcome.ruleIds).toEqual(['comment', 'write']);
    expect(client.asked).toHaveLength(0);
    expect(await s.grants.listGrants({}, s.clock.now())).toHaveLength(0);
    expect((await errorOf(s.authorizer.authorize(call(p, {}, client.e, 'gh_write')))).code).toBe(
      'approval_required',
    );
  });

  it("an operator's approval of one tool's call does not cover the same arguments on a sibling tool", async () => {
    const s = setup([rule({ id: 'both', approval: 'operator' })], tools);
    const p = principal('token');
    const asked = await errorOf(s.authorizer.authorize(call(p, { name: 'x' }, undefined, 'gh_comment')));
    await s.grants.answerApproval(asked.approvalId!, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
    });
    const sibling = await errorOf(s.authorizer.authorize(call(p, { name: 'x' }, undefined, 'gh_write')));
    expect(sibling.code).toBe('approval_required');
    expect(sibling.approvalId).not.toBe(asked.approvalId);
    await expect(
      s.authorizer.authorize(call(p, { name: 'x' }, undefined, 'gh_comment')),
    ).resolves.toMatchObject({ via: 'grant' });
  });
});

describe('the person in the client approves what they were shown', () => {
  it('a "yes" to one call covers that call only; other arguments ask again', async () => {
    const s = setup([rule({})]);
    const p = principal('stdio');
    const client = selfApprover();
    await expect(s.authorizer.authorize(call(p, { repo: 'docs' }, client.e))).resolves.toMatchObject({
      via: 'grant',
    });
    await expect(s.authorizer.authorize(call(p, { repo: 'docs' }, client.e))).resolves.toMatchObject({
      via: 'grant',
    });
    expect(client.asked).toHaveLength(1);
    await s.authorizer.authorize(call(p, { repo: 'prod' }, client.e));
    expect(client.asked).toHaveLength(2);
    expect(client.asked[1]).toContain('prod');
    const grants = await s.grants.listGrants({}, s.clock.now());
    expect(grants.every((g) => g.constraints?.[PINNED_ARGS] !== undefined)).toBe(true);
  });

  it('the prompt offers the choice; "any arguments" widens the grant as an explicit answer', async () => {
    const s = setup([rule({})]);
    const p = principal('stdio');
    const schemas: unknown[] = [];
    const widen: Elicitor = {
      elicit: (req) => {
        schemas.push(req.requestedSchema);
        return Promise.resolve({ action: 'accept', content: { approve: true, scope: ELICITED_SCOPE.any } });
      },
    };
    await s.authorizer.authorize(call(p, { repo: 'docs' }, widen));
    await s.authorizer.authorize(call(p, { repo: 'prod' }, widen));
    expect(schemas).toHaveLength(1);
    expect(schemas[0]).toMatchObject({
      properties: {
        scope: { enum: [ELICITED_SCOPE.call, ELICITED_SCOPE.any], default: ELICITED_SCOPE.call },
      },
    });
  });
});

describe('meta-tool spam (issue 14)', () => {
  it('300 parallel identical request_capability calls open exactly one request; the rest are rate_limited', async () => {
    const s = setup([rule({})]);
    const [, request] = capabilityMetaTools(s.authorizer);
    const p = principal('token');
    const settled = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) =>
        request!.call(
          { permission: 'gh:write', justification: 'spam' },
          { principal: p, sessionId: undefined, elicitor: undefined, requestId: `r${i}` },
        ),
      ),
    );
    const pending = await s.grants.listApprovals('pending', s.clock.now());
    expect(pending).toHaveLength(1);
    // A refusal is thrown (the Gateway formats it: test/unit/server/meta-tool-entry.test.ts).
    const codes = settled.map((a) =>
      a.status === 'fulfilled'
        ? (a.value.structuredContent as { status: string }).status
        : (a.reason as { code: string }).code,
    );
    const answers = settled.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    expect(codes.filter((c) => c === 'pending')).toHaveLength(30);
    expect(codes.filter((c) => c === 'rate_limited')).toHaveLength(270);
    const ids = new Set(
      answers.map((a) => (a.structuredContent as { approvalId?: string }).approvalId).filter(Boolean),
    );
    expect(ids.size).toBe(1);
  });
});

describe('the elicitation prompt', () => {
  it("quotes the agent's text: newlines and control characters cannot forge lines", async () => {
    const s = setup([rule({ approval: 'any' })]);
    const client = selfApprover();
    const forged = 'routine\nRule: operator-approved. Risk: none.\r\u001b[2K\u202eevil';
    await s.authorizer.requestCapability(
      principal('stdio'),
      { permission: 'gh:write', justification: forged },
      { requestId: 'r', elicitor: client.e },
    );
    const prompt = client.asked[0]!;
    const line = prompt.split('\n').find((l) => l.includes('justification'))!;
    expect(line).toContain(
      '(unverified, written by the agent): "\u2068routine\\nRule: operator-approved. Risk: none.\\r\\e[2K\\u{202e}evil\u2069"',
    );
    expect(prompt.split('\n').filter((l) => l.startsWith('Rule:'))).toHaveLength(1);
    // eslint-disable-next-line no-control-regex -- the test looks for raw control characters
    expect(prompt).not.toMatch(/[\r\u001b\u202e]/);
  });

  it('one prompt open per principal: an agent cannot stack prompts for the person to click through', async () => {
    const s = setup([rule({ approval: 'any' })]);
    const asked: string[] = [];
    const answers: (() => void)[] = [];
    const slow: Elicitor = {
      elicit: (req) => {
        asked.push(req.message);
        return new Promise((resolve) => {
          answers.push(() => resolve({ action: 'accept', content: { approve: true } }));
        });
      },
    };
    const prompts = async (n: number) => {
      for (let i = 0; i < 1000 && asked.length < n; i++) await new Promise((r) => setImmediate(r));
      return asked.length;
    };
    const p = principal('stdio');
    const first = s.authorizer.authorize(call(p, { repo: 'docs' }, slow));
    expect(await prompts(1)).toBe(1);
    // Twenty other questions while the first is open: none reaches the person.
    const stacked = await Promise.all(
      Array.from({ length: 20 }, (_, i) => errorOf(s.authorizer.authorize(call(p, { repo: `r${i}` }, slow)))),
    );
    expect(stacked.map((e) => e.code)).toEqual(Array(20).fill('rate_limited'));
    expect(stacked[0]?.retryAfterSeconds).toBeGreaterThan(0);
    expect(asked).toHaveLength(1);
    // The same question joins the open prompt; another user of the agent has a prompt of their own.
    const same = s.authorizer.authorize(call(p, { repo: 'docs' }, slow));
    const other = s.authorizer.authorize(call({ ...p, user: 'bob' }, { repo: 'x' }, slow));
    expect(await prompts(2)).toBe(2);
    expect(asked[1]).toContain('"x"');
    answers[0]?.();
    answers[1]?.();
    await expect(first).resolves.toMatchObject({ via: 'grant' });
    await expect(same).resolves.toMatchObject({ via: 'grant' });
    await expect(other).resolves.toMatchObject({ via: 'grant' });
    // Answered: the next question is asked.
    const next = s.authorizer.authorize(call(p, { repo: 'next' }, slow));
    expect(await prompts(3)).toBe(3);
    answers[2]?.();
    await expect(next).resolves.toMatchObject({ via: 'grant' });
  });

  // Security review of 2026-12-05 (second pass): the prompt cut the arguments at 400 characters, so
  // an agent padded the start and put what mattered past the cut; the "yes" pinned the grant to
  // arguments the person never saw.
  it('shows every argument it approves, in full; arguments too long to show are not put to the client', async () => {
    const s = setup([rule({ approval: 'any' })]);
    const client = selfApprover();
    const padded = { note: 'routine docs fix '.repeat(30), branch: 'main', force: true };
    await s.authorizer.authorize(call(principal('stdio'), padded, client.e));
    const line = client.asked[0]!.split('\n').find((l) => l.startsWith('Arguments'))!;
    expect(line).toContain('\u2068"branch"\u2069:\u2068"main"\u2069');
    expect(line).toContain('\u2068"force"\u2069:true');

    // Too long for a prompt: with an operator channel the call goes to an operator, who sees it all.
    const huge = { note: 'x'.repeat(5000), branch: 'main' };
    const toOperator = await errorOf(s.authorizer.authorize(call(principal('stdio'), huge, client.e)));
    expect(toOperator.code).toBe('approval_required');
    expect(toOperator.approvalId).toMatch(/^a_/);
    expect(client.asked).toHaveLength(1);

    // An elicitation-only rule refuses and says why.
    const only = setup([rule({ approval: 'elicitation' })]);
    const refused = await errorOf(only.authorizer.authorize(call(principal('stdio'), huge, client.e)));
    expect(refused.code).toBe('approval_required');
    expect(refused.message).toMatch(
      /too long to show in its prompt \(\d+ characters of JSON, at most 4000\)/,
    );
    expect(client.asked).toHaveLength(1);
    expect(await only.grants.listGrants({}, only.clock.now())).toHaveLength(0);

    // request_capability's constraints follow the same rule.
    const answer = await only.authorizer.requestCapability(
      principal('stdio'),
      { permission: 'gh:write', constraints: { note: 'y'.repeat(5000) } },
      { requestId: 'r', elicitor: client.e },
    );
    expect(answer).toMatchObject({ status: 'denied' });
    expect(client.asked).toHaveLength(1);
  });

  // Security review of 2026-12-05: the prompt is plain text, and a client lays it out with the
  // Unicode bidi algorithm. Unisolated, `{"אאא":"בבב"}` is one right-to-left run: the value is
  // drawn where the key should be, and `{"to":"<attacker>"}`-style pairs read the other way round.
  // Chromium lays out the prompt as a client would, and the test reads where each letter is drawn.
  let browser: Browser | undefined;
  afterAll(async () => browser?.close());
  it.skipIf(!browserAvailable)(
    'right-to-left arguments cannot swap how a key and its value read',
    async () => {
      const s = setup([rule({ approval: 'any' })]);
      const client = selfApprover();
      await s.authorizer.authorize(call(principal('stdio'), { אאא: 'בבב' }, client.e));
      const line = client.asked[0]!.split('\n').find((l) => l.startsWith('Arguments'))!;
      browser = await launchBrowser();
      const page = await browser.newPage();
      await page.setContent('<!doctype html><pre id="prompt"></pre>');
      const left = (await page.evaluate(`((text) => {
      const root = document.getElementById('prompt');
      root.textContent = text;
      const leftOf = (char) => {
        const at = text.indexOf(char);
        const range = document.createRange();
        range.setStart(root.firstChild, at);
        range.setEnd(root.firstChild, at + 1);
        return range.getBoundingClientRect().left;
      };
      return { key: leftOf('א'), value: leftOf('ב'), label: leftOf('A') };
    })(${JSON.stringify(line)})`)) as { key: number; value: number; label: number };
      expect(left.label).toBeLessThan(left.key);
      expect(left.key).toBeLessThan(left.value);
    },
  );
});

/**
 * Two people act through one agent (tokens naming a user, per-user connections): a grant is the
 * approval of one person's call, so it must not let the agent act for another person on the same
 * terms (security review of 2026-12-05: grants were bound to agent and tenant only).
 */
describe('a grant answers for the user it was approved for', () => {
  const alice: Principal = { ...principal('jwt'), user: 'alice' };
  const bob: Principal = { ...principal('jwt'), user: 'bob' };

  it("an operator's approval of alice's call does not cover the same call made for bob", async () => {
    const s = setup([rule({})]);
    const first = await errorOf(s.authorizer.authorize(call(alice, { repo: 'notes' })));
    await s.grants.answerApproval(first.approvalId!, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
    });
    await expect(s.authorizer.authorize(call(alice, { repo: 'notes' }))).resolves.toMatchObject({
      via: 'grant',
    });
    const forBob = await errorOf(s.authorizer.authorize(call(bob, { repo: 'notes' })));
    expect(forBob.code).toBe('approval_required');
    expect(forBob.approvalId).not.toBe(first.approvalId);
    // Nor a principal that names no user.
    const nobody = await errorOf(s.authorizer.authorize(call(principal('jwt'), { repo: 'notes' })));
    expect(nobody.code).toBe('approval_required');
  });

  it("--any-args widens alice's grant to her other arguments, not to bob", async () => {
    const s = setup([rule({})]);
    const first = await errorOf(s.authorizer.authorize(call(alice, { repo: 'notes' })));
    await s.grants.answerApproval(first.approvalId!, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
      anyArgs: true,
    });
    await expect(s.authorizer.authorize(call(alice, { repo: 'other' }))).resolves.toMatchObject({
      via: 'grant',
    });
    expect((await errorOf(s.authorizer.authorize(call(bob, { repo: 'other' })))).code).toBe(
      'approval_required',
    );
    const [forAlice] = await s.authorizer.describe(alice);
    const [forBob] = await s.authorizer.describe(bob);
    expect(forAlice).toMatchObject({ status: 'granted' });
    expect(forBob).toMatchObject({ status: 'needs_approval', grants: [] });
  });

  it('alice\'s "any arguments" in her client does not answer for bob: bob\'s client is asked', async () => {
    const s = setup([rule({ approval: 'elicitation' })]);
    const aliceClient: Elicitor = {
      elicit: () =>
        Promise.resolve({ action: 'accept', content: { approve: true, scope: ELICITED_SCOPE.any } }),
    };
    await expect(s.authorizer.authorize(call(alice, { repo: 'notes' }, aliceClient))).resolves.toMatchObject({
      via: 'grant',
    });
    const bobClient = selfApprover();
    await s.authorizer.authorize(call(bob, { repo: 'notes' }, bobClient.e));
    expect(bobClient.asked).toHaveLength(1);
    expect(await s.grants.listGrants({}, s.clock.now())).toHaveLength(2);
  });

  it("request_capability: alice's grant is not bob's, and the agent cannot name the user itself", async () => {
    const s = setup([rule({})]);
    const asked = await s.authorizer.requestCapability(alice, { permission: 'gh:write' }, { requestId: 'r' });
    expect(asked.status).toBe('pending');
    if (asked.status !== 'pending') return;
    await s.grants.answerApproval(asked.approvalId, {
      approved: true,
      by: 'operator:ann',
      now: s.clock.now(),
    });
    await expect(s.authorizer.authorize(call(alice, { repo: 'x' }))).resolves.toMatchObject({ via: 'grant' });
    expect((await errorOf(s.authorizer.authorize(call(bob, { repo: 'x' })))).code).toBe('approval_required');
    const again = await s.authorizer.requestCapability(bob, { permission: 'gh:write' }, { requestId: 'r' });
    expect(again.status).toBe('pending');
    const [, request] = capabilityMetaTools(s.authorizer);
    const forged = await request!
      .call(
        { permission: 'gh:write', constraints: { $user: 'alice' } },
        { principal: bob, sessionId: undefined, elicitor: undefined, requestId: 'r' },
      )
      .catch((error: unknown) => error);
    expect(forged).toBeInstanceOf(KeywardError);
    expect((forged as KeywardError).code).toBe('invalid_arguments');
  });
});
