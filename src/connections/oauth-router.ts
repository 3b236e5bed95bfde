/**
 * keyward's own consent pages, mounted at /oauth by `serve --http`:
 *
 * - `GET /oauth/start?ticket=…` takes the single-use link an agent's call handed out, binds this
 *   browser with an HttpOnly cookie, and sends it to sign in to keyward (when the provider's
 *   `verifyUser` is `signIn`) or on to the provider (authorization code + PKCE S256, `state`);
 * - `GET /oauth/callback` (the one, exact redirect URI) checks the `state` (single-use,
 *   short-lived, started by this same browser), redeems the code with the PKCE verifier, checks
 *   that the person is the link's user, stores the tokens and wakes the waiting call.
 *
 * Cookies are HttpOnly, Path=/oauth, Secure over https and SameSite=Lax (the provider's redirect
 * back is a cross-site top-level GET: Strict would drop them). Nothing on these pages changes
 * state on a POST, pages carry a CSP without scripts, and no text from the URL is reflected.
 */
import express, { type Request, type Response, type Router } from 'express';
import { readCookie } from '../console/operator-sessions.js';
import type { Logger } from '../observability/logger.js';
import { digest, randomId } from './flows.js';
import type { ConnectionManager, StepResult } from './connection-manager.js';

export const BROWSER_COOKIE = 'keyward_oauth';
export const SIGNED_IN_COOKIE = 'keyward_oauth_user';

const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export interface OAuthRouterDeps {
  readonly manager: ConnectionManager;
  readonly logger: Logger;
  readonly secureCookies: boolean;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · keyward</title>` +
        '<meta name="viewport" content="width=device-width, initial-scale=1">' +
        '<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}</style></head>' +
        `<body><h1 id="title">${escapeHtml(title)}</h1><p id="message">${escapeHtml(message)}</p></body></html>`,
    );
}

export function createOAuthRouter(deps: OAuthRouterDeps): Router {
  const router = express.Router();
  const { manager } = deps;

  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const cookie = (name: string, value: string, maxAgeSeconds: number): string =>
    [
      `${name}=${value}`,
      'Path=/oauth',
      `Max-Age=${maxAgeSeconds}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(deps.secureCookies ? ['Secure'] : []),
    ].join('; ');

  /** This browser's binding cookie, set on first use. */
  const browserOf = (req: Request, res: Response): string => {
    let value = readCookie(req.headers.cookie, BROWSER_COOKIE);
    if (value === undefined || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
      value = randomId();
      res.append('Set-Cookie', cookie(BROWSER_COOKIE, value, 3600));
    }
    return digest(value);
  };

  const render = (res: Response, result: StepResult): void => {
    switch (result.kind) {
      case 'redirect':
        res.redirect(303, result.url);
        return;
      case 'connected':
        page(
          res,
          200,
          'Connected',
          `Your ${result.provider} account is connected. You can close this window: your agent continues.`,
        );
        return;
      case 'refused':
        page(res, result.status, 'Not connected', result.message);
        return;
      case 'signedIn':
        page(res, 500, 'Not connected', 'Unexpected step.');
        return;
    }
  };

  const failed = (res: Response, error: unknown): void => {
    deps.logger.warn(
      { err: (error as Error).name, code: (error as { code?: unknown }).code },
      'oauth page failed',
    );
    page(res, 503, 'Not connected', 'keyward could not reach the provider. Try again in a moment.');
  };

  router.get('/start', async (req, res) => {
    const ticket = typeof req.query.ticket === 'string' ? req.query.ticket : '';
    if (!/^[A-Za-z0-9_-]{43}$/.test(ticket)) {
      page(res, 400, 'Not connected', 'This link is not valid.');
      return;
    }
    try {
      const browser = browserOf(req, res);
      const signedIn = await manager.flows.signedIn(readCookie(req.headers.cookie, SIGNED_IN_COOKIE));
      render(res, await manager.start(ticket, browser, signedIn?.user));
    } catch (error) {
      failed(res, error);
    }
  });

  router.get('/callback', async (req, res) => {
    try {
      const raw = readCookie(req.headers.cookie, BROWSER_COOKIE);
      const browser = raw === undefined ? undefined : digest(raw);
      const url = new URL(req.originalUrl, 'http://callback.invalid');
      const result = await manager.callback(url, browser);
      if (result.kind === 'signedIn') {
        res.append('Set-Cookie', cookie(SIGNED_IN_COOKIE, result.session, 900));
        render(res, await manager.afterSignIn(result.then, browser!, result.user));
        return;
      }
      render(res, result);
    } catch (error) {
      failed(res, error);
    }
  });

  return router;
}
