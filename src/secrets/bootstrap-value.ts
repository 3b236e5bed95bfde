/** Reads bootstrap values (Vault token, AppRole ids, AWS keys) from a file or an env var, never a literal. */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import type { SecretSource } from '../config/schema.js';
import { resolvePath } from '../config/load.js';

/**
 * Returns the value a `{ file }` or `{ env }` source points at, trimmed of surrounding whitespace.
 * A file must not be readable by group or others (chmod 600), as for ssh keys. Errors name the
 * file or variable, never the value.
 */
export function readSecretSource(source: SecretSource, baseDir: string): string {
  if ('env' in source) {
    const value = process.env[source.env];
    if (value === undefined || value.trim() === '') {
      throw new ConfigError(`environment variable ${source.env} is not set or empty`);
    }
    return value.trim();
  }
  const file = resolvePath(source.file, baseDir);
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`cannot read secret file ${file}: ${code}`);
  }
  if (process.platform !== 'win32' && (mode & 0o044) !== 0) {
    throw new ConfigError(
      `secret file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${file}`,
    );
  }
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`cannot read secret file ${file}: ${code}`);
  }
  if (value === '') throw new ConfigError(`secret file ${file} is empty`);
  return value;
}
