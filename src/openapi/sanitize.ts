/** Hygiene for untrusted OpenAPI text: tool and argument names, descriptions, permission segments. */

/** MCP tool names: `[A-Za-z0-9_.-]{1,128}`. */
export const MAX_TOOL_NAME_LENGTH = 128;
export const DEFAULT_DESCRIPTION_MAX_LENGTH = 1024;
export const PROPERTY_DESCRIPTION_MAX_LENGTH = 300;

/*
 * Characters that hide or reorder text for a human reviewer while a model still reads them:
 * C0/C1 controls (except tab and newline), zero-width and invisible formatting characters,
 * bidi embeddings/overrides/isolates, the soft hyphen and the Unicode tag block (ASCII smuggling).
 */
const INVISIBLE =
  // eslint-disable-next-line no-control-regex, no-misleading-character-class -- stripping these is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF0-\uFFFB]|\uDB40[\uDC00-\uDC7F]/g;

/**
 * Cleans an untrusted description: strips control, zero-width and bidi characters, normalizes line
 * breaks and blank runs, trims, and caps the length (cutting on a code point, ending with `…`).
 */
export function cleanDescription(text: unknown, maxLength = DEFAULT_DESCRIPTION_MAX_LENGTH): string {
  if (typeof text !== 'string') return '';
  let out = text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(INVISIBLE, '')
    .replace(/\t/g, ' ')
    .replace(/[ \u00A0]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  if (out.length > maxLength) {
    let cut = out.slice(0, Math.max(0, maxLength - 1));
    if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1); // never split a surrogate pair
    out = cut.trimEnd() + '…';
  }
  return out;
}

/** Replaces every run of characters outside `[A-Za-z0-9_.-]` with `_`; never empty. */
export function sanitizeName(raw: string, fallback = 'op', maxLength = MAX_TOOL_NAME_LENGTH): string {
  const cleaned = raw
    .replace(INVISIBLE, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^[_.-]+|[_.-]+$/g, '');
  const name = cleaned.length > 0 ? cleaned : fallback;
  return name.slice(0, maxLength);
}

/**
 * Returns `base`, or `base_2`, `base_3`, … the first one not in `taken`, within the length cap;
 * records the result in `taken`. Deterministic for a given insertion order.
 */
export function uniqueName(base: string, taken: Set<string>, maxLength = MAX_TOOL_NAME_LENGTH): string {
  let candidate = base.slice(0, maxLength);
  for (let i = 2; taken.has(candidate); i++) {
    const suffix = `_${i}`;
    candidate = base.slice(0, maxLength - suffix.length) + suffix;
  }
  taken.add(candidate);
  return candidate;
}

/** A lowercase permission segment: letters, digits, `_` and `-` only (no `:` or `.`, which separate). */
export function permissionSegment(raw: string, fallback = 'default'): string {
  const cleaned = raw
    .replace(INVISIBLE, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 64);
  return cleaned.length > 0 ? cleaned : fallback;
}
