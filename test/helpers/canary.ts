/** Canary secrets and a detector that finds them in any encoding keyward's redactor promises to cover. */
import { randomBytes } from 'node:crypto';
import { secretCore } from '../../src/upstream/secret-core.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function makeCanary(prefix = 'kwcanary'): string {
  const bytes = randomBytes(36);
  let out = `${prefix}_`;
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** Every form of `secret` that must never appear in an output. */
export function canaryForms(secret: string, minRun = 8): string[] {
  const forms = new Set<string>();
  forms.add(secret);
  for (let shift = 0; shift < 3; shift++) {
    const prefix = Buffer.alloc(shift, 0x41);
    for (const encoding of ['base64', 'base64url'] as const) {
      const encoded = Buffer.concat([prefix, Buffer.from(secret)]).toString(encoding);
      // Drop the characters that depend on the neighbouring bytes.
      const start = Math.ceil((shift * 4) / 3) + 1;
      forms.add(encoded.slice(start, encoded.length - 4));
    }
  }
  forms.add(encodeURIComponent(secret));
  forms.add(JSON.stringify(secret).slice(1, -1));
  const hex = Buffer.from(secret).toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  // Partial runs: every window of the core (a public vendor prefix such as `kwcanary_` is not secret;
  // docs/security.md explains why runs reaching into it are not redacted).
  const core = secretCore(secret);
  for (let i = 0; i + minRun <= core.length; i++) forms.add(core.slice(i, i + minRun));
  return [...forms].filter((f) => f.length >= minRun);
}

/** The forms of the secret found in `haystack` (empty when clean). */
export function findCanary(haystack: string | Buffer, secret: string): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  return canaryForms(secret).filter((form) => text.includes(form));
}
