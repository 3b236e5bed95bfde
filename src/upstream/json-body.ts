/**
 * An upstream JSON body as a value, or undefined when it is not JSON or nests deeper than
 * MAX_JSON_DEPTH: a hostile upstream's 200,000-level body (well under the size cap) would otherwise
 * overflow the stack of every recursive walker after it (the SDK's serializer among them) and the
 * call would never answer. Such a body is returned as text.
 */
import { MAX_JSON_DEPTH } from './redaction.js';

export function parseJsonBody(text: string): { value: unknown } | undefined {
  if (text.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return withinDepth(value) ? { value } : undefined;
}

/** Iterative, so the check itself cannot overflow. */
export function withinDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= max) return false;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return true;
}
