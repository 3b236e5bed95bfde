/**
 * A scripted browser for consent flows: follows redirects by hand across keyward and the test
 * provider, keeps cookies per origin, and fills the test provider's login form with an account.
 */
export class CookieJar {
  private readonly jar = new Map<string, Map<string, string>>();

  header(url: string): string {
    const cookies = this.jar.get(new URL(url).origin);
    return cookies === undefined ? '' : [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(url: string, setCookies: readonly string[]): void {
    const origin = new URL(url).origin;
    let cookies = this.jar.get(origin);
    if (cookies === undefined) this.jar.set(origin, (cookies = new Map()));
    for (const line of setCookies) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq === -1) continue;
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0/i.test(line) || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
  }
}

export interface ConsentResult {
  readonly status: number;
  readonly body: string;
  readonly url: string;
  /** The provider's redirect to keyward's callback, when stopped there (`stopAtCallback`). */
  readonly callbackUrl?: string;
}

export async function scriptedConsent(
  startUrl: string,
  account: string,
  options: { jar?: CookieJar; stopAtCallback?: boolean } = {},
): Promise<ConsentResult> {
  const jar = options.jar ?? new CookieJar();
  let url = startUrl;
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 25; hop++) {
    if (options.stopAtCallback && url.includes('/oauth/callback') && hop > 0)
      return { status: 0, body: '', url, callbackUrl: url };
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(url),
        ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    jar.store(url, res.headers.getSetCookie());
    method = 'GET';
    body = undefined;
    if ([301, 302, 303, 307].includes(res.status)) {
      url = new URL(res.headers.get('location')!, url).href;
      await res.arrayBuffer();
      continue;
    }
    const text = await res.text();
    if (res.status === 200 && new URL(url).pathname.startsWith('/interaction/')) {
      method = 'POST';
      body = new URLSearchParams({ login: account }).toString();
      continue;
    }
    return { status: res.status, body: text, url };
  }
  throw new Error('too many redirects');
}
