// Request templates: fixed origin, one-segment path encoding, query/header/body substitution, attacks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toolSchema, type ToolConfig } from '../../../src/config/schema.js';
import { ConfigError, KeywardError } from '../../../src/core/errors.js';
import {
  compileRequestTemplate,
  DEFAULT_ACCEPT,
  USER_AGENT,
} from '../../../src/upstream/request-template.js';

function tool(request: Record<string, unknown>): ToolConfig {
  return toolSchema.parse({ permission: 'test:read', request });
}

function expectInvalid(fn: () => unknown, argName?: string): KeywardError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    const k = error as KeywardError;
    expect(k.code).toBe('invalid_arguments');
    if (argName !== undefined) expect(k.message).toContain(argName);
    return k;
  }
  throw new Error('expected invalid_arguments');
}

const ATTACKS = [
  '../',
  '..',
  '../../admin',
  '%2f',
  '%2e%2e',
  '//evil.example',
  '@evil.example',
  'x@evil.example:80',
  '\r\nX-Injected: 1',
  'a/b?c=d#e',
  'back\\slash',
  'http://evil.example/',
  'ünïcødé/😀',
  'x'.repeat(100_000),
];

describe('compileRequestTemplate: path', () => {
  const t = compileRequestTemplate(
    'get_repo',
    tool({ method: 'GET', url: 'https://api.example.com/repos/{owner}/{repo}' }),
  );

  it('replaces path parameters and keeps the origin', () => {
    const req = t.build({ owner: 'octo', repo: 'hello-world' });
    expect(t.origin).toBe('https://api.example.com');
    expect(req.method).toBe('GET');
    expect(req.url.href).toBe('https://api.example.com/repos/octo/hello-world');
    expect(req.body).toBeUndefined();
    expect(req.headers).toEqual({
      accept: DEFAULT_ACCEPT,
      'accept-encoding': 'identity',
      'user-agent': USER_AGENT,
    });
  });

  it('encodes each argument as exactly one segment and never changes the origin', () => {
    for (const attack of ATTACKS) {
      if (attack === '..') continue;
      const req = t.build({ owner: attack, repo: 'r' });
      expect(req.url.origin).toBe('https://api.example.com');
      expect(req.url.host).toBe('api.example.com');
      expect(req.url.username).toBe('');
      expect(req.url.search).toBe('');
      expect(req.url.hash).toBe('');
      const segments = req.url.pathname.split('/');
      expect(segments).toHaveLength(4);
      expect(segments[1]).toBe('repos');
      expect(decodeURIComponent(segments[2]!)).toBe(attack);
      expect(segments[3]).toBe('r');
      expect(Object.keys(req.headers).sort()).toEqual(['accept', 'accept-encoding', 'user-agent']);
    }
  });

  it('rejects empty, "." and ".." path arguments, naming the argument', () => {
    for (const bad of ['', '.', '..']) expectInvalid(() => t.build({ owner: bad, repo: 'r' }), 'owner');
    expectInvalid(() => t.build({ owner: 'o' }), 'repo');
    expectInvalid(() => t.build({ owner: { a: 1 }, repo: 'r' }), 'owner');
  });

  it('rejects lone surrogates instead of throwing URIError', () => {
    expectInvalid(() => t.build({ owner: '\ud800', repo: 'r' }), 'owner');
  });

  it('accepts numbers and booleans in the path', () => {
    expect(t.build({ owner: 42, repo: true }).url.pathname).toBe('/repos/42/true');
  });

  it('property: random arguments never change origin, segment count or headers', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), (owner) => {
        fc.pre(owner !== '.' && owner !== '..');
        const req = t.build({ owner, repo: 'r' });
        expect(req.url.origin).toBe('https://api.example.com');
        expect(req.url.pathname.split('/')).toHaveLength(4);
        expect(decodeURIComponent(req.url.pathname.split('/')[2]!)).toBe(owner);
      }),
      { numRuns: 300 },
    );
  });

  it('supports placeholders inside a segment', () => {
    const c = compileRequestTemplate(
      'f',
      tool({ method: 'GET', url: 'https://api.example.com/files/{name}.json' }),
    );
    expect(c.build({ name: 'a/b' }).url.pathname).toBe('/files/a%2Fb.json');
  });
});

describe('compileRequestTemplate: config checks', () => {
  it('refuses placeholders in the host', () => {
    expect(() =>
      compileRequestTemplate('t', tool({ method: 'GET', url: 'https://{host}.example.com/x' })),
    ).toThrow(ConfigError);
  });

  it('refuses non-http schemes and userinfo', () => {
    expect(() => compileRequestTemplate('t', tool({ method: 'GET', url: 'ftp://example.com/x' }))).toThrow(
      ConfigError,
    );
    expect(() =>
      compileRequestTemplate('t', tool({ method: 'GET', url: 'https://u:p@example.com/x' })),
    ).toThrow(ConfigError);
  });

  it('refuses credential, cookie, host and framing headers', () => {
    for (const name of [
      'Authorization',
      'cookie',
      'Host',
      'content-length',
      'Proxy-Authorization',
      'Accept-Encoding',
      // one reserved list for templates and imported OpenAPI parameters (they had drifted apart)
      'Forwarded',
      'X-Forwarded-For',
      'x-forwarded-host',
    ]) {
      expect(() =>
        compileRequestTemplate(
          't',
          tool({ method: 'GET', url: 'https://a.example/x', headers: { [name]: 'v' } }),
        ),
      ).toThrow(ConfigError);
    }
  });

  it("refuses the credential's own header and query parameter", () => {
    const withHeader = tool({ method: 'GET', url: 'https://a.example/x', headers: { 'X-Api-Key': '{k}' } });
    expect(() =>
      compileRequestTemplate('t', withHeader, {
        inject: { type: 'header', header: 'x-api-key', format: '{value}' },
      }),
    ).toThrow(/x-api-key/);
    const withQuery = tool({ method: 'GET', url: 'https://a.example/x?api_key={k}' });
    expect(() =>
      compileRequestTemplate('t', withQuery, { inject: { type: 'query', param: 'api_key' } }),
    ).toThrow(ConfigError);
    // Without that credential, the same templates compile.
    expect(() => compileRequestTemplate('t', withHeader)).not.toThrow();
  });
});

describe('compileRequestTemplate: query', () => {
  const t = compileRequestTemplate(
    'search',
    tool({
      method: 'GET',
      url: 'https://api.example.com/search?format=json',
      query: { q: '{q}', tag: '{tags}', range: '{from}..{to}', page: '{page}' },
    }),
  );

  it('substitutes, repeats arrays, omits undefined and encodes values', () => {
    const req = t.build({ q: 'a b&c=d#e', tags: ['x', 'y/z'], from: 1, to: 5 });
    expect(req.url.origin).toBe('https://api.example.com');
    expect(req.url.searchParams.get('format')).toBe('json');
    expect(req.url.searchParams.get('q')).toBe('a b&c=d#e');
    expect(req.url.searchParams.getAll('tag')).toEqual(['x', 'y/z']);
    expect(req.url.searchParams.get('range')).toBe('1..5');
    expect(req.url.searchParams.has('page')).toBe(false);
    expect(req.url.hash).toBe('');
  });

  it('omits an interpolated parameter whose argument is missing', () => {
    const req = t.build({ q: 'x', from: 1 });
    expect(req.url.searchParams.has('range')).toBe(false);
  });
});

describe('compileRequestTemplate: headers', () => {
  const t = compileRequestTemplate(
    'h',
    tool({
      method: 'GET',
      url: 'https://api.example.com/x',
      headers: { 'X-Trace': '{trace}', 'X-Version': 'v{ver}', Accept: 'text/plain' },
    }),
  );

  it('substitutes header values and lowercases names', () => {
    const req = t.build({ trace: 'abc', ver: 2 });
    expect(req.headers['x-trace']).toBe('abc');
    expect(req.headers['x-version']).toBe('v2');
    expect(req.headers.accept).toBe('text/plain');
    expect(t.build({}).headers['x-trace']).toBeUndefined();
  });

  it('rejects CR, LF and NUL in header values, naming the argument', () => {
    for (const bad of ['a\r\nX-Injected: 1', 'a\nb', 'a\u0000b', 'a\rb']) {
      expectInvalid(() => t.build({ trace: bad }), 'trace');
      expectInvalid(() => t.build({ ver: bad }), 'ver');
    }
  });
});

describe('compileRequestTemplate: body', () => {
  it('"args" sends the arguments not consumed by path, query or headers', () => {
    const t = compileRequestTemplate(
      'create',
      tool({
        method: 'POST',
        url: 'https://api.example.com/repos/{owner}/issues',
        query: { dry: '{dry}' },
        headers: { 'X-Trace': '{trace}' },
        body: 'args',
      }),
    );
    const req = t.build({ owner: 'o', dry: true, trace: 't', title: 'T', labels: ['a'] });
    expect(JSON.parse(req.body!)).toEqual({ title: 'T', labels: ['a'] });
    expect(req.headers['content-type']).toBe('application/json');
    expect([...t.consumed].sort()).toEqual(['dry', 'owner', 'trace']);
  });

  it('"args" forwards a __proto__ argument as a key of the body, not as the prototype (security review)', () => {
    const t = compileRequestTemplate(
      'create',
      tool({ method: 'POST', url: 'https://api.example.com/x', body: 'args' }),
    );
    // As JSON.parse builds it from the agent's line: an own property named __proto__.
    const args = JSON.parse('{"__proto__":{"polluted":1},"title":"T"}') as Record<string, unknown>;
    expect(JSON.parse(t.build(args).body!)).toEqual(JSON.parse('{"__proto__":{"polluted":1},"title":"T"}'));
    expect(t.build(args).body).toBe('{"__proto__":{"polluted":1},"title":"T"}');
  });

  it('a template keeps types for exact placeholders, interpolates other strings, omits undefined', () => {
    const t = compileRequestTemplate(
      'tpl',
      tool({
        method: 'POST',
        url: 'https://api.example.com/x',
        body: {
          title: '{title}',
          count: '{n}',
          msg: 'hello {name}!',
          list: ['{a}', '{b}', 'lit'],
          fixed: 3,
          deep: { v: '{v}' },
        },
      }),
    );
    const req = t.build({ title: 'T', n: 7, name: 'bob', a: { k: 1 }, v: null });
    expect(JSON.parse(req.body!)).toEqual({
      title: 'T',
      count: 7,
      msg: 'hello bob!',
      list: [{ k: 1 }, 'lit'],
      fixed: 3,
      deep: { v: null },
    });
  });

  it('does not let the template object be mutated through a build', () => {
    const body = { a: '{a}' };
    const t = compileRequestTemplate('m', tool({ method: 'POST', url: 'https://api.example.com/x', body }));
    const arg = { nested: 1 };
    const built = JSON.parse(t.build({ a: arg }).body!) as { a: { nested: number } };
    expect(built.a).toEqual({ nested: 1 });
    expect(body).toEqual({ a: '{a}' });
  });
});
