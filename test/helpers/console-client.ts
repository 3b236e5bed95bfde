/**
 * A scripted operator for the approval console (plain HTTP, no browser): signs in with an operator
 * token, reads pages and posts their forms with the session's CSRF token and the console's Origin,
 * as a browser on the console's own page would.
 */
export interface ConsoleOperator {
  readonly cookie: string;
  get(path: string): Promise<{ status: number; html: string; location: string | null }>;
  /** Posts a form found on `pagePath` to `action`, with the page's CSRF token. */
  post(
    action: string,
    fields?: Record<string, string>,
    options?: { pagePath?: string; origin?: string | null; csrf?: string | null },
  ): Promise<{ status: number; html: string; location: string | null }>;
}

export function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (match?.[1] === undefined) throw new Error('no CSRF token on the page');
  return match[1];
}

/** Signs in at `<origin>/console/login`; throws when the token is refused. */
export async function signIn(origin: string, token: string): Promise<ConsoleOperator> {
  const login = await fetch(`${origin}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
    body: new URLSearchParams({ token, next: '/console/approvals' }).toString(),
  });
  const setCookie = login.headers.get('set-cookie');
  if (login.status !== 303 || setCookie === null) throw new Error(`sign-in refused: ${login.status}`);
  const cookie = setCookie.split(';')[0]!;
  const get = async (path: string) => {
    const res = await fetch(`${origin}${path}`, { headers: { cookie }, redirect: 'manual' });
    return { status: res.status, html: await res.text(), location: res.headers.get('location') };
  };
  return {
    cookie,
    get,
    async post(action, fields = {}, options = {}) {
      const csrf =
        options.csrf === undefined
          ? csrfOf((await get(options.pagePath ?? '/console/approvals')).html)
          : options.csrf;
      const origin_ = options.origin === undefined ? origin : options.origin;
      const res = await fetch(`${origin}${action}`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          cookie,
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin_ === null ? {} : { origin: origin_ }),
        },
        body: new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...fields }).toString(),
      });
      return { status: res.status, html: await res.text(), location: res.headers.get('location') };
    },
  };
}
