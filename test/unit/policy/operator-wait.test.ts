/**
 * An operator's approval reached through the console (issue 15): a client that declared URL-mode
 * elicitation is sent the request's page and its call waits for the operator's answer in the grant
 * store; the client's own "accept" approves nothing. Clients without URL mode get
 * approval_required with the page's url at once.
 */
import { describe, expect, it } from 'vitest';
import type { AuditSink } from '../../../src/audit/audit-sink.js';
import { ruleSchema } from '../../../src/config/schema.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { KeywardError } from '../../../src/core/errors.js';
import type { Principal } from '../../../src/core/types.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { Alert } from '../../../src/observability/notifier.js';
import { ApprovalDesk } from '../../../src/policy/approval-desk.js';
import type { Elicitor } from '../../../src/policy/authorizer.js';
import { CapabilityAuthorizer } from '../../../src/policy/capability-authorizer.js';
import { compileCelCondition } from '../../../src/policy/cel-condition.js';
import { MemoryGrantStore } from '../../../src/policy/memory-grant-store.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { MemoryRateLimiter } from '../../../src/policy/rate-limiter.js';
import { ConsoleLinks } from '../../../src/console/console-links.js';

const agent: Principal = {
  agent: 'bot',
  tenant: 'acme',
  roles: ['dev'],
  attributes: {},
  authMethod: 'token',
};
const audit = {
  kind: 'test',
  append: () => Promise.resolve(),
} as unknown as AuditSink;

function setup(options: { console?: boolean; waitSeconds?: number } = {}) {
  const clock = new ManualClock();
  const grants = new MemoryGrantStore();
  const alerts: Alert[] = [];
  const links = new ConsoleLinks(options.console ?? true);
  links.served('https://keyward.example/console');
  const authorizer = new CapabilityAuthorizer(
    {
      engine: new PolicyEngine(
        [ruleSchema.parse({ id: 'w', effect: 'approve', roles: ['dev'], permissions: ['gh:write'] })],
        compileCelCondition,
      ),
      grants,
      rateLimiter: new MemoryRateLimiter(clock),
      audit,
      clock,
      logger: silentLogger(),
      notifier: { notify: (a) => alerts.push(a) },
      links,
      operatorWaitSeconds: options.waitSeconds ?? 60,
      operatorPollMs: 5,
    },
    new Map([['gh_write', 'gh:write']]),
  );
  const desk = new ApprovalDesk(grants, () => Promise.resolve(), clock);
  return { clock, grants, alerts, authorizer, desk };
}

function urlClient(answer: 'accept' | 'decline' = 'accept') {
  const opened: { url: string; elicitationId: string }[] = [];
  const completed: string[] = [];
  const elicitor: Elicitor = {
    openUrl: (request) => {
      opened.push(request);
      return Promise.resolve(answer);
    },
    completeUrl: (id) => {
      completed.push(id);
      return Promise.resolve();
    },
  };
  return { elicitor, opened, completed };
}

const call = (elicitor?: Elicitor, args: Record<string, unknown> = { title: 'x' }) => ({
  principal: agent,
  tool: 'gh_write',
  permission: 'gh:write',
  args,
  requestId: 'r1',
  ...(elicitor === undefined ? {} : { elicitor }),
});

async function until<T>(probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('timed out');
}

describe('waiting for an operator after a URL elicitation', () => {
  it('sends the request page, waits, and continues once an operator approves', async () => {
    const { authorizer, desk, grants } = setup();
    const client = urlClient();
    const pending = authorizer.authorize(call(client.elicitor));
    const { url } = await until(() => client.opened[0]);
    const id = decodeURIComponent(url.split('/').pop()!);
    expect(url).toBe(`https://keyward.example/console/approvals/${id}`);
    expect((await grants.getApproval(id))?.argsJson).toBe('{"title":"x"}');
    await desk.approve(id, { name: 'alice', channel: 'console' });
    const authorization = await pending;
    expect(authorization.via).toBe('grant');
    expect(client.completed).toHaveLength(1);
  });

  it('the client accepting the elicitation approves nothing: without an operator the wait ends in approval_required', async () => {
    const { authorizer, clock } = setup({ waitSeconds: 1 });
    const client = urlClient('accept');
    const pending = authorizer.authorize(call(client.elicitor)).catch((e: KeywardError) => e);
    await until(() => client.opened[0]);
    clock.advance(1_500);
    const error = (await pending) as KeywardError;
    expect(error.code).toBe('approval_required');
    expect(error.url).toMatch(/^https:\/\/keyward\.example\/console\/approvals\/a_/);
  });

  it('an operator deny ends the wait with approval_denied', async () => {
    const { authorizer, desk } = setup();
    const client = urlClient();
    const pending = authorizer.authorize(call(client.elicitor)).catch((e: KeywardError) => e);
    const { url } = await until(() => client.opened[0]);
    await desk.deny(decodeURIComponent(url.split('/').pop()!), { name: 'alice', channel: 'console' }, 'no');
    expect(((await pending) as KeywardError).code).toBe('approval_denied');
  });

  it('a user who declines to open the page stops the wait: approval_required, the request stays open', async () => {
    const { authorizer, grants, clock } = setup();
    const client = urlClient('decline');
    const error = (await authorizer
      .authorize(call(client.elicitor))
      .catch((e: unknown) => e)) as KeywardError;
    expect(error.code).toBe('approval_required');
    expect((await grants.listApprovals('pending', clock.now())).map((a) => a.id)).toEqual([error.approvalId]);
  });

  it('the call’s abort signal ends the wait', async () => {
    const { authorizer } = setup();
    const client = urlClient();
    const abort = new AbortController();
    const pending = authorizer
      .authorize({ ...call(client.elicitor), signal: abort.signal })
      .catch((e: KeywardError) => e);
    await until(() => client.opened[0]);
    abort.abort();
    expect(((await pending) as KeywardError).code).toBe('approval_required');
  });

  it('without URL mode (or without a console) the call answers at once; the url only when there is a console', async () => {
    const withConsole = setup();
    const a = (await withConsole.authorizer.authorize(call()).catch((e: unknown) => e)) as KeywardError;
    expect(a.code).toBe('approval_required');
    expect(a.url).toBe(`https://keyward.example/console/approvals/${a.approvalId}`);
    expect(withConsole.alerts.find((x) => x.type === 'approval.requested')?.url).toBe(a.url);

    const noConsole = setup({ console: false });
    const client = urlClient();
    const b = (await noConsole.authorizer
      .authorize(call(client.elicitor))
      .catch((e: unknown) => e)) as KeywardError;
    expect(b.code).toBe('approval_required');
    expect(b.url).toBeUndefined();
    expect(client.opened).toHaveLength(0);
  });
});

describe('the approval desk', () => {
  it('withdraws an approval the audit trail cannot record', async () => {
    const { authorizer, grants, clock } = setup();
    const error = (await authorizer.authorize(call()).catch((e: unknown) => e)) as KeywardError;
    const failing = new ApprovalDesk(grants, () => Promise.reject(new Error('disk full')), clock);
    await expect(failing.approve(error.approvalId!, { name: 'alice', channel: 'console' })).rejects.toThrow(
      'the grant was withdrawn',
    );
    const grant = (await grants.listGrants({ includeInactive: true }, clock.now()))[0]!;
    expect(grant.revokedAt).toBeDefined();
    const retry = (await authorizer.authorize(call()).catch((e: unknown) => e)) as KeywardError;
    expect(retry.code).toBe('permission_denied');
  });

  it('answers a request once: a second approve or deny is refused as not pending', async () => {
    const { authorizer, desk } = setup();
    const error = (await authorizer.authorize(call()).catch((e: unknown) => e)) as KeywardError;
    await desk.approve(error.approvalId!, { name: 'alice', channel: 'console' });
    await expect(desk.deny(error.approvalId!, { name: 'bob', channel: 'cli' })).rejects.toThrow(
      'not pending',
    );
    await expect(desk.approve('a_nope', { name: 'bob', channel: 'cli' })).rejects.toThrow(
      'no approval request',
    );
  });
});
