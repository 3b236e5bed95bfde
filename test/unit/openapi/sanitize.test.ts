/** Hygiene of untrusted OpenAPI text: descriptions, tool names, permission segments. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cleanDescription,
  permissionSegment,
  sanitizeName,
  uniqueName,
} from '../../../src/openapi/sanitize.js';

describe('cleanDescription', () => {
  it('strips control, zero-width, bidi and tag characters and trims', () => {
    const hostile =
      '  Get\u200B a\u202E pet\u0007\u2066 \uFEFFnow\u{E0041}\u{E0042}\r\n\r\n\r\n\r\nmore\u00AD  ';
    expect(cleanDescription(hostile)).toBe('Get a pet now\n\nmore');
  });

  it('caps the length without splitting a surrogate pair', () => {
    const text = 'a'.repeat(9) + '😀'.repeat(20);
    const out = cleanDescription(text, 12);
    expect(out.length).toBeLessThanOrEqual(12);
    expect(out.endsWith('…')).toBe(true);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('never returns invisible characters or exceeds the cap (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 400 }),
        fc.integer({ min: 2, max: 300 }),
        (s, max) => {
          const out = cleanDescription(s, max);
          expect(out.length).toBeLessThanOrEqual(max);
          const bad = [...out].filter((c) => {
            const code = c.codePointAt(0)!;
            return (
              (code < 0x20 && c !== '\n') ||
              code === 0x7f ||
              (code >= 0x200b && code <= 0x200f) ||
              (code >= 0x202a && code <= 0x202e) ||
              (code >= 0x2066 && code <= 0x2069)
            );
          });
          expect(bad).toEqual([]);
        },
      ),
    );
  });
});

describe('names', () => {
  it('sanitizes to the MCP tool name alphabet and length', () => {
    expect(sanitizeName('repos/get-content (v2)!')).toBe('repos_get-content_v2');
    expect(sanitizeName('日本語')).toBe('op');
    expect(sanitizeName('x'.repeat(300))).toHaveLength(128);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        expect(sanitizeName(s)).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
      }),
    );
  });

  it('makes names unique deterministically, within the cap', () => {
    const taken = new Set<string>();
    expect([uniqueName('a', taken), uniqueName('a', taken), uniqueName('a', taken)]).toEqual([
      'a',
      'a_2',
      'a_3',
    ]);
    const long = 'y'.repeat(128);
    const set = new Set<string>([long]);
    const next = uniqueName(long, set);
    expect(next).toHaveLength(128);
    expect(next.endsWith('_2')).toBe(true);
  });

  it('permission segments are lowercase and free of separators', () => {
    expect(permissionSegment('Swagger Petstore')).toBe('swagger-petstore');
    expect(permissionSegment('repos:admin.x')).toBe('repos-admin-x');
    expect(permissionSegment('!!!')).toBe('default');
  });
});
