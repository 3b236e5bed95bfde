// Response header allowlist: only listed headers pass; cookies and auth challenges never do.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESPONSE_HEADER_ALLOWLIST,
  filterResponseHeaders,
} from '../../../src/upstream/response-headers.js';

const upstream = {
  'content-type': 'application/json',
  'Content-Length': '12',
  etag: '"abc"',
  'x-ratelimit-remaining': '59',
  link: '<https://api.example.com/?page=2>; rel="next"',
  'retry-after': '3',
  'x-request-id': 'req-1',
  'set-cookie': ['session=cnry_cookie_secret', 'b=2'],
  'www-authenticate': 'Bearer realm="x", error="invalid_token"',
  server: 'nginx/1.2.3',
  location: 'https://evil.example/',
  'x-debug-authorization': 'Bearer cnry_debug_secret',
  authorization: 'Bearer cnry_echo',
  'x-empty': undefined,
};

describe('filterResponseHeaders', () => {
  it('passes only the default allowlist', () => {
    expect(filterResponseHeaders(upstream)).toEqual({
      'content-type': 'application/json',
      'content-length': '12',
      etag: '"abc"',
      'x-ratelimit-remaining': '59',
      link: '<https://api.example.com/?page=2>; rel="next"',
      'retry-after': '3',
      'x-request-id': 'req-1',
    });
    expect(DEFAULT_RESPONSE_HEADER_ALLOWLIST).not.toContain('location');
  });

  it('a tool allowlist replaces the default (case-insensitive)', () => {
    expect(filterResponseHeaders(upstream, ['Server', 'ETag'])).toEqual({
      server: 'nginx/1.2.3',
      etag: '"abc"',
    });
  });

  it('never passes cookies, authorization or auth challenges, even when allowlisted', () => {
    const out = filterResponseHeaders(upstream, [
      'set-cookie',
      'authorization',
      'www-authenticate',
      'location',
    ]);
    expect(out).toEqual({ location: 'https://evil.example/' });
    expect(JSON.stringify(out)).not.toContain('cnry_');
  });

  it('joins repeated values', () => {
    expect(filterResponseHeaders({ link: ['<a>', '<b>'] })).toEqual({ link: '<a>, <b>' });
  });
});
