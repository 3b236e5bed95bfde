/**
 * How tool input schemas are compiled (ajv, JSON Schema 2020-12). Stated once for the validator
 * (argument-validator.ts) and for scripts/gen-json-schema-meta.ts, which generates the precompiled
 * meta-schema check (json-schema-meta.generated.ts) with exactly these options.
 */
export const AJV_OPTIONS = {
  allErrors: true,
  strict: false,
  coerceTypes: false,
  useDefaults: false,
} as const;

/** The meta-schema a tool's input schema is checked against when it names no other `$schema`. */
export const JSON_SCHEMA_2020_12 = 'https://json-schema.org/draft/2020-12/schema';
