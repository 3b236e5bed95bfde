/** Field selection inside a structured secret value (a JSON object stored as a string). */
import { KeywardError } from '../core/errors.js';

/** The string fields of `value` when it is a JSON object, else undefined. Never throws. */
export function jsonStringFields(value: string): Record<string, string> | undefined {
  const trimmed = value.trimStart();
  if (!trimmed.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v === 'string') fields[k] = v;
  }
  return fields;
}

/**
 * Applies `field` to a raw stored value: with a field, the value becomes that string field of the
 * JSON object (missing → credential_not_found); the object's string fields always fill `fields`.
 */
export function selectField(
  raw: string,
  field: string | undefined,
): { value: string; fields?: Readonly<Record<string, string>> } {
  const fields = jsonStringFields(raw);
  if (field === undefined) return fields ? { value: raw, fields } : { value: raw };
  const selected = fields?.[field];
  if (selected === undefined) {
    throw new KeywardError('credential_not_found', 'the credential has no such field', {
      detail: `field "${field}" missing or not a string`,
    });
  }
  return { value: selected, fields: fields ?? {} };
}
