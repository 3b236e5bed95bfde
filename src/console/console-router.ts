/**
 * The approval console (issue 15): server-rendered pages for operators, mounted under /console by
 * `serve --http` and by `keyward console`. Pending approvals with the exact arguments, approve
 * (scope, lifetime capped by the rule) or deny with a reason, live grants with revoke, and the
 * audit trail with filters and chain verification. Every action goes through the ApprovalDesk
 * (the same code as `keyward grants`) and is audited as `operator:<name>` via `console`.
 *
 * Defences, each stated once here: operators sign in with operator tokens only
 * (operator-sessions.ts); the session cookie is HttpOnly, SameSite=Strict, Path=/console and
 * Secure over https; every state change needs the session's CSRF token and an Origin (or Referer)
 * on the allowlist; pages carry a CSP without inline scripts or styles, no framing, no caching;
 * everything agent- or upstream-written is escaped for the terminal-like cases (escapeUntrusted)
 * and for HTML by the templates (views.ts); redirects only go to the console's own paths.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { AuditRecord, AuditSink, VerifyReport } from '../audit/audit-sink.js';
import type { Clock } from '../core/clock.js';
import { escapeUntrusted, jsonParts, type JsonPart } from '../core/untrusted-text.js';
import type { Logger } from '../observability/logger.js';
import type { ApprovalDesk } from '../policy/approval-desk.js';
import { DeskError, type DeskOperator } from '../policy/approval-desk.js';
import {
  grantedUser,
  grantScope,
  PINNED_ARGS,
  type Grant,
  type GrantStore,
  type PendingApproval,
} from '../policy/grant-store.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import {
  csrfMatches,
  readCookie,
  SESSION_COOKIE,
  type OperatorSession,
  type OperatorSessions,
} from './operator-sessions.js';
import { renderPage, type ConsolePage } from './views.js';

export interface ConsoleDeps {
  readonly grants: GrantStore;
  readonly desk: ApprovalDesk;
  readonly audit: AuditSink;
  readonly sessions: OperatorSessions;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The path the router is mounted at (`/console`). */
  readonly basePath: string;
  /** Set the cookie's Secure flag (the console is reached over https). */
  readonly secureCookies: boolean;
  /** Whether a browser Origin may change state (the same allowlist as /mcp). */
  readonly isAllowedOrigin: (origin: string) => boolean;
  /** Per-user OAuth connections (src/connections/), when this process serves them. */
  readonly connections?: ConsoleConnections;
}

/** What the console shows and does with user connections (never a token). */
export interface ConsoleConnections {
  readonly enabled: boolean;
  list(filter: { user?: string; provider?: string }): Promise<
    readonly {
      user: string | undefined;
      provider: string;
      tenant: string | undefined;
      credential: string;
      ref: string;
      version: string;
      updatedAt: string | undefined;
    }[]
  >;
  revoke(filter: { credential: string; ref: string }, by: string): Promise<readonly unknown[]>;
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const TTL_CHOICES = [300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600];

type Notice = { readonly text: string; readonly kind: 'ok' | 'error' };

/**
 * The sign-in page's notices, named by `?done=` (fixed texts; the page never reflects text from
 * the URL). Only these two: a link cannot make anything look done that an operator must decide.
 */
const LOGIN_NOTICES: Readonly<Record<string, Notice>> = {
  signedout: { text: 'Signed out.', kind: 'ok' },
  expired: { text: 'Your sign-in expired: sign in again.', kind: 'error' },
};

/**
 * What an operator's own action did, shown once on the next page. Kept on the operator's session
 * (OperatorSessions.setNotice), never taken from the URL: a link the agent sends the operator
 * (`…/approvals/a_X?done=approved`) would otherwise show a pending request as approved.
 */
type ActionNotice = 'approved' | 'denied' | 'revoked' | 'disconnected';

const ACTION_NOTICES: Readonly<Record<ActionNotice, Notice>> = {
  approved: {
    text: 'Approved. The agent’s waiting call continues; its retries are covered by the grant.',
    kind: 'ok',
  },
  denied: { text: 'Denied. The agent is told the request was declined.', kind: 'ok' },
  revoked: { text: 'Revoked. The next call relying on this grant is denied.', kind: 'ok' },
  disconnected: {
    text: 'Revoked. The stored tokens are gone (and revoked at the provider where it offers it); the user is asked to connect again.',
    kind: 'ok',
  },
};

const noticeView = (notice: Notice | undefined): Record<string, string> =>
  notice === undefined ? {} : { flash: notice.text, flashKind: notice.kind };

export function createConsoleRouter(deps: ConsoleDeps): Router {
  const router = express.Router();
  const base = deps.basePath;
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.get('/assets/console.css', (_req, res) => {
    res.type('text/css').setHeader('Cache-Control', 'max-age=300');
    res.send(CONSOLE_CSS);
  });
  router.get('/assets/console.js', (_req, res) => {
    res.type('text/javascript').setHeader('Cache-Control', 'max-age=300');
    res.send(CONSOLE_JS);
  });

  const sessionOf = (req: Request): OperatorSession | undefined =>
    deps.sessions.lookup(readCookie(req.headers.cookie, SESSION_COOKIE));

  const page = (
    res: Response,
    status: number,
    name: ConsolePage,
    session: OperatorSession | undefined,
    model: Record<string, unknown>,
  ): void => {
    res
      .status(status)
      .type('html')
      .send(
        renderPage(name, {
          base,
          ...(session === undefined ? {} : { operator: session.operator, csrf: session.csrf }),
          ...model,
        }),
      );
  };

  const fail = (
    res: Response,
    status: number,
    session: OperatorSession | undefined,
    heading: string,
    message: string,
  ): void => page(res, status, 'error', session, { title: heading, heading, message });

  /** A state change must come from a page of this console: an allowed Origin (or Referer). */
  const sameOrigin = (req: Request): boolean => {
    const origin = req.headers.origin;
    if (origin !== undefined) return origin !== 'null' && deps.isAllowedOrigin(origin);
    const referer = req.headers.referer;
    if (referer === undefined) return false;
    try {
      return deps.isAllowedOrigin(new URL(referer).origin);
    } catch {
      return false;
    }
  };

  /** Signed in, same origin and the right CSRF token; otherwise answers and returns undefined. */
  const mayChange = (req: Request, res: Response): OperatorSession | undefined => {
    const session = sessionOf(req);
    if (!sameOrigin(req)) {
      deps.logger.warn({ path: req.path }, 'console: state change from another origin refused');
      fail(res, 403, session, 'Refused', 'This form did not come from a page of this console.');
      return undefined;
    }
    if (session === undefined) {
      res.redirect(303, `${base}/login?done=expired`);
      return undefined;
    }
    if (!csrfMatches(session, (req.body as Record<string, unknown> | undefined)?.csrf)) {
      deps.logger.warn(
        { path: req.path, operator: session.operator },
        'console: CSRF token missing or wrong',
      );
      fail(
        res,
        403,
        session,
        'Refused',
        'The form’s security token is missing or out of date: reload the page and try again.',
      );
      return undefined;
    }
    return session;
  };

  /** Pages other than the sign-in need a session; GETs are sent to sign in and come back. */
  const signedIn = (req: Request, res: Response): OperatorSession | undefined => {
    const session = sessionOf(req);
    if (session === undefined) {
      const next = req.originalUrl.startsWith(`${base}/`) ? req.originalUrl : `${base}/approvals`;
      res.redirect(303, `${base}/login?next=${encodeURIComponent(next)}`);
    }
    return session;
  };

  /** The session's one-time notice of its last action, if any. */
  const flash = (session: OperatorSession): Record<string, string> =>
    noticeView(ACTION_NOTICES[deps.sessions.takeNotice(session.id) as ActionNotice]);

  /** Redirects after an action, leaving its notice on the session (not in the URL). */
  const doneThen = (session: OperatorSession, notice: ActionNotice, to: string): string => {
    deps.sessions.setNotice(session.id, notice);
    return to;
  };

  router.get(['/', ''], (_req, res) => res.redirect(303, `${base}/approvals`));

  router.get('/login', (req, res) => {
    page(res, 200, 'login', undefined, {
      title: 'Sign in',
      next: safeNext(req.query.next, base),
      ...noticeView(LOGIN_NOTICES[String(req.query.done ?? '')]),
    });
  });

  router.post('/login', form, (req, res) => {
    if (!sameOrigin(req)) {
      fail(res, 403, undefined, 'Refused', 'This form did not come from a page of this console.');
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const operator = deps.sessions.operatorFor(token);
    if (operator === undefined) {
      deps.logger.warn({}, 'console: sign-in with a token that is not an operator token');
      page(res, 401, 'login', undefined, {
        title: 'Sign in',
        next: safeNext(body.next, base),
        flash: 'That is not an operator token.',
        flashKind: 'error',
      });
      return;
    }
    const session = deps.sessions.open(operator);
    res.setHeader('Set-Cookie', cookie(session.id, deps.sessions.ttl, base, deps.secureCookies));
    deps.logger.info({ operator }, 'console: operator signed in');
    res.redirect(303, safeNext(body.next, base));
  });

  router.post('/logout', form, (req, res) => {
    const session = mayChange(req, res);
    if (session === undefined) return;
    deps.sessions.close(session.id);
    res.setHeader('Set-Cookie', cookie('', 0, base, deps.secureCookies));
    res.redirect(303, `${base}/login?done=signedout`);
  });

  router.get('/approvals', async (req, res) => {
    const session = signedIn(req, res);
    if (session === undefined) return;
    const now = deps.clock.now();
    const pending = await deps.grants.listApprovals('pending', now);
    page(res, 200, 'approvals', session, {
      title: 'Pending approvals',
      nav: { approvals: true },
      approvals: pending.map((a) => ({
        id: a.id,
        href: `${base}/approvals/${encodeURIComponent(a.id)}`,
        what: a.tool === undefined ? a.permission : `${a.tool} (${a.permission})`,
        agent: a.agent,
        tenant: a.tenant,
        ...forUserView(a),
        requestedAt: iso(a.requestedAt),
        argsPreview: jsonParts(clip(a.argsJson ?? a.argsSummary, 300)),
        ...(a.justification === undefined
          ? {}
          : { justification: escapeUntrusted(clip(a.justification, 300)) }),
        rules: a.ruleIds.join(', '),
      })),
      ...flash(session),
    });
  });

  router.get('/approvals/:id', async (req, res) => {
    const session = signedIn(req, res);
    if (session === undefined) return;
    const approval = await deps.grants.getApproval(req.params.id ?? '');
    if (approval === undefined) {
      fail(res, 404, session, 'No such request', 'There is no approval request with this id.');
      return;
    }
    page(res, 200, 'approval', session, {
      title: `Request ${approval.id}`,
      nav: { approvals: true },
      a: approvalView(approval, base, deps.clock.now()),
      ...flash(session),
    });
  });

  router.post('/approvals/:id/approve', form, async (req, res) => {
    const session = mayChange(req, res);
    if (session === undefined) return;
    const id = req.params.id ?? '';
    const body = req.body as Record<string, unknown>;
    const ttl = body.ttlSeconds === undefined ? undefined : Number(body.ttlSeconds);
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) {
      fail(res, 400, session, 'Not approved', 'The grant lifetime must be a whole number of seconds.');
      return;
    }
    if (body.scope !== 'these' && body.scope !== 'any') {
      fail(res, 400, session, 'Not approved', 'Choose what the grant covers.');
      return;
    }
    await act(res, session, id, async (operator) => {
      await deps.desk.approve(id, operator, {
        ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
        ...(body.scope === 'any' ? { anyArgs: true } : {}),
      });
      return doneThen(session, 'approved', `${base}/approvals/${encodeURIComponent(id)}`);
    });
  });

  router.post('/approvals/:id/deny', form, async (req, res) => {
    const session = mayChange(req, res);
    if (session === undefined) return;
    const id = req.params.id ?? '';
    const reason = (req.body as Record<string, unknown>).reason;
    await act(res, session, id, async (operator) => {
      await deps.desk.deny(id, operator, typeof reason === 'string' ? reason.trim() : undefined);
      return doneThen(session, 'denied', `${base}/approvals/${encodeURIComponent(id)}`);
    });
  });

  router.get('/grants', async (req, res) => {
    const session = signedIn(req, res);
    if (session === undefined) return;
    const grants = await deps.grants.listGrants({}, deps.clock.now());
    page(res, 200, 'grants', session, {
      title: 'Live grants',
      nav: { grants: true },
      grants: grants.map((g) => grantView(g, base)),
      ...flash(session),
    });
  });

  router.post('/grants/:id/revoke', form, async (req, res) => {
    const session = mayChange(req, res);
    if (session === undefined) return;
    const id = req.params.id ?? '';
    await act(res, session, id, async (operator) => {
      await deps.desk.revoke(id, operator);
      return doneThen(session, 'revoked', `${base}/grants`);
    });
  });

  let verifying: Promise<VerifyReport> | undefined;
  router.get('/audit', async (req, res) => {
    const session = signedIn(req, res);
    if (session === undefined) return;
    const filters = {
      agent: filterValue(req.query.agent),
      tenant: filterValue(req.query.tenant),
      tool: filterValue(req.query.tool),
      requestId: filterValue(req.query.requestId),
    };
    const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ''));
    let records: AuditRecord[];
    try {
      records = await deps.audit.query({ ...query, limit: 200 });
    } catch (error) {
      deps.logger.error({ err: String(error) }, 'console: audit query failed');
      fail(res, 503, session, 'Audit trail unavailable', 'The audit trail cannot be read right now.');
      return;
    }
    let verify: Record<string, unknown> | undefined;
    if (req.query.verify === '1') {
      // One verification at a time, however many operators ask.
      verifying ??= deps.audit.verify().finally(() => {
        verifying = undefined;
      });
      try {
        const report = await verifying;
        verify = {
          ok: report.ok,
          summary: report.ok
            ? `Chain verified: ${report.records} records in ${report.writers} writer chains, nothing edited, inserted or removed.`
            : `Verification FAILED: ${report.problems.length} problems in ${report.records} records.`,
          problems: report.problems.slice(0, 50).map((p) => escapeUntrusted(p)),
        };
      } catch (error) {
        verify = {
          ok: false,
          summary: `Verification could not run: ${escapeUntrusted(String(error))}`,
          problems: [],
        };
      }
    }
    page(res, 200, 'audit', session, {
      title: 'Audit trail',
      nav: { audit: true },
      filters,
      filtered: Object.keys(query).length > 0,
      ...(verify === undefined ? {} : { verify }),
      records: records.map(recordView),
    });
  });

  router.get('/connections', async (req, res) => {
    const session = signedIn(req, res);
    if (session === undefined) return;
    const filters = { user: filterValue(req.query.user), provider: filterValue(req.query.provider) };
    const filter = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ''));
    const configured = deps.connections?.enabled === true;
    let rows: Awaited<ReturnType<ConsoleConnections['list']>> = [];
    if (configured) {
      try {
        rows = await deps.connections!.list(filter);
      } catch (error) {
        deps.logger.error({ err: (error as Error).name }, 'console: connections could not be listed');
        fail(res, 503, session, 'Connections unavailable', 'The token vault cannot be read right now.');
        return;
      }
    }
    page(res, 200, 'connections', session, {
      title: 'User connections',
      nav: { connections: true },
      configured,
      filters,
      filtered: Object.keys(filter).length > 0,
      connections: rows.map((c) => ({
        user: escapeUntrusted(c.user ?? '?'),
        provider: escapeUntrusted(c.provider),
        tenant: escapeUntrusted(c.tenant ?? '—'),
        credential: escapeUntrusted(c.credential),
        // sent back as is by the row's Revoke (a hidden field, HTML-escaped by the template)
        ref: c.ref,
        credentialId: c.credential,
        version: escapeUntrusted(c.version),
        updatedAt: escapeUntrusted(c.updatedAt ?? ''),
      })),
      ...flash(session),
    });
  });

  router.post('/connections/revoke', form, async (req, res) => {
    const session = mayChange(req, res);
    if (session === undefined) return;
    const body = req.body as Record<string, unknown>;
    // The exact record of the row: the same user name in another tenant is another person.
    const credential = typeof body.credential === 'string' ? body.credential : '';
    const ref = typeof body.ref === 'string' ? body.ref : '';
    if (deps.connections?.enabled !== true || credential === '' || ref === '') {
      fail(res, 400, session, 'Nothing changed', 'Choose one connection (credential and ref).');
      return;
    }
    try {
      await deps.connections.revoke({ credential, ref }, `operator:${session.operator}`);
    } catch (error) {
      deps.logger.error({ err: (error as Error).name }, 'console: connection revoke failed');
      fail(res, 503, session, 'Nothing changed', 'The token vault could not be reached; try again.');
      return;
    }
    deps.logger.info({ operator: session.operator, credential }, 'console: connection revoked');
    res.redirect(303, doneThen(session, 'disconnected', `${base}/connections`));
  });

  /** Runs one operator action; a DeskError becomes a page saying what happened. */
  async function act(
    res: Response,
    session: OperatorSession,
    id: string,
    run: (operator: DeskOperator) => Promise<string>,
  ): Promise<void> {
    try {
      const next = await run({ name: session.operator, channel: 'console' });
      res.redirect(303, next);
    } catch (error) {
      if (error instanceof DeskError) {
        const status = error.reason === 'not_found' ? 404 : error.reason === 'not_pending' ? 409 : 503;
        fail(res, status, session, 'Nothing changed', `${error.message}.`);
        return;
      }
      deps.logger.error({ err: String(error), id }, 'console: action failed');
      fail(res, 503, session, 'Nothing changed', 'The grant store could not be reached; try again.');
    }
  }

  return router;
}

function cookie(value: string, maxAgeSeconds: number, path: string, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    `Path=${path}`,
    `Max-Age=${maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** Only a path inside the console: never another site (no open redirect). */
function safeNext(value: unknown, base: string): string {
  if (
    typeof value === 'string' &&
    value.startsWith(`${base}/`) &&
    !value.startsWith('//') &&
    !/[\\\s]/.test(value)
  )
    return value;
  return `${base}/approvals`;
}

function filterValue(value: unknown): string {
  return typeof value === 'string' ? value.trim().slice(0, 200) : '';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function duration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

/** The exact arguments, pretty-printed, as parts. */
function prettyArgs(json: string): JsonPart[] {
  let text: string;
  try {
    text = JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    text = json;
  }
  return jsonParts(text);
}

function approvalView(a: PendingApproval, base: string, now: number): Record<string, unknown> {
  const pinned = a.constraints?.[PINNED_ARGS] !== undefined;
  const choices = [
    ...new Set([...TTL_CHOICES.filter((c) => c <= a.maxTtlSeconds), a.ttlSeconds, a.maxTtlSeconds]),
  ]
    .filter((c) => c <= a.maxTtlSeconds)
    .sort((x, y) => x - y);
  const href = `${base}/approvals/${encodeURIComponent(a.id)}`;
  return {
    id: a.id,
    href,
    status: a.status,
    pending: a.status === 'pending' && now < a.expiresAt,
    agent: a.agent,
    tenant: a.tenant,
    ...forUserView(a),
    tool: a.tool ?? '— (asked with request_capability)',
    permission: a.permission,
    rules: a.ruleIds.join(', '),
    requestedAt: iso(a.requestedAt),
    expiresAt: iso(a.expiresAt),
    ...(a.answeredBy === undefined ? {} : { answeredBy: escapeUntrusted(a.answeredBy) }),
    ...(a.answeredAt === undefined ? {} : { answeredAt: iso(a.answeredAt) }),
    ...(a.grantId === undefined
      ? {}
      : { grantId: a.grantId, grantHref: `${base}/grants#grant-${encodeURIComponent(a.grantId)}` }),
    terms:
      `${duration(a.ttlSeconds)} by default, at most ${duration(a.maxTtlSeconds)}` +
      (a.maxCalls === undefined ? '' : `, at most ${a.maxCalls} calls`),
    argsHeading:
      a.argsJson !== undefined
        ? 'Exact arguments'
        : a.tool === undefined
          ? 'Limited to'
          : 'Arguments (summary)',
    args: a.argsJson !== undefined ? prettyArgs(a.argsJson) : jsonParts(a.argsSummary),
    // the scope quotes the agent's constraints: each JSON string isolated, as in the arguments
    scopeHint: pinned
      ? [{ t: 'Approving “only these arguments” grants exactly this call’s arguments, nothing else.' }]
      : jsonParts(`The grant covers ${grantScope(a.constraints)}.`),
    pinned,
    scope: jsonParts(grantScope(a.constraints)),
    ...(a.justification === undefined ? {} : { justification: escapeUntrusted(a.justification) }),
    ttlChoices: choices.map((c) => ({ value: c, label: duration(c), selected: c === a.ttlSeconds })),
  };
}

/** The user a request asks for (its grant covers only them), when the principal named one. */
function forUserView(a: PendingApproval): { user?: string } {
  const user = grantedUser(a.constraints);
  return user === undefined ? {} : { user: escapeUntrusted(user) };
}

function grantView(g: Grant, base: string): Record<string, unknown> {
  return {
    id: g.id,
    href: `${base}/grants/${encodeURIComponent(g.id)}`,
    agent: g.agent,
    tenant: g.tenant,
    permission: g.permission,
    scope: jsonParts(grantScope(g.constraints)),
    expiresAt: iso(g.expiresAt),
    callsLeft: g.maxCalls === undefined ? 'unlimited' : `${g.maxCalls - g.used} of ${g.maxCalls}`,
    createdBy: escapeUntrusted(g.createdBy),
  };
}

function recordView(r: AuditRecord): Record<string, unknown> {
  const result = [r.decision, r.outcome, r.errorCode, r.status === undefined ? undefined : String(r.status)]
    .filter((x) => x !== undefined)
    .join(' · ');
  return {
    time: r.time,
    type: escapeUntrusted(r.type),
    who: escapeUntrusted(
      r.agent === undefined ? '—' : r.tenant === undefined ? r.agent : `${r.agent} (${r.tenant})`,
    ),
    tool: escapeUntrusted(r.tool ?? '—'),
    result: escapeUntrusted(result),
    requestId: escapeUntrusted(r.requestId ?? ''),
    // agent-written values (justifications, constraints) among them: each string isolated
    details: r.details === undefined ? [] : jsonParts(clip(JSON.stringify(r.details), 400)),
  };
}
