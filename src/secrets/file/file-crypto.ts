/** The encrypted store's on-disk format (AES-256-GCM), its key file, and the 0600 permission rule. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { ConfigError } from '../../core/errors.js';

export const KEY_BYTES = 32;
const MAGIC = Buffer.from('KWSTORE1', 'ascii');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The store file did not authenticate: wrong key, a changed byte, truncation or not a store at all. */
export class StoreIntegrityError extends Error {
  constructor() {
    super('the secret store failed its integrity check (wrong key file, or the file was modified)');
    this.name = 'StoreIntegrityError';
  }
}

export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Key file text: base64 of the 32 key bytes and a newline. */
export function encodeKey(key: Buffer): string {
  return `${key.toString('base64')}\n`;
}

/** Parses a key file (base64 or hex text, or 32 raw bytes). Throws ConfigError naming the file. */
export function parseKey(data: Buffer, file: string): Buffer {
  if (data.length === KEY_BYTES) return Buffer.from(data);
  const text = data.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  throw new ConfigError(`key file ${file} does not hold a 32-byte key (base64, hex or raw)`);
}

/** Encrypts the whole store: MAGIC | iv | tag | ciphertext, with MAGIC as associated data. */
export function encryptStore(key: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(MAGIC);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, iv, cipher.getAuthTag(), ciphertext]);
}

/** Decrypts and authenticates a store; any changed byte throws StoreIntegrityError, never garbage. */
export function decryptStore(key: Buffer, data: Buffer): Buffer {
  const headerBytes = MAGIC.length + IV_BYTES + TAG_BYTES;
  if (data.length < headerBytes || !data.subarray(0, MAGIC.length).equals(MAGIC))
    throw new StoreIntegrityError();
  const iv = data.subarray(MAGIC.length, MAGIC.length + IV_BYTES);
  const tag = data.subarray(MAGIC.length + IV_BYTES, headerBytes);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(MAGIC);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data.subarray(headerBytes)), decipher.final()]);
  } catch {
    throw new StoreIntegrityError();
  }
}

/** The fix an operator needs when a key or store file is readable by group or others. */
export function loosePermissionMessage(file: string, mode: number): string {
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return `${file} is readable or writable by group or others (mode ${octal}); run \`chmod 600 ${file}\``;
}

/** Throws ConfigError when `file` has any group/other permission bit. No-op on Windows. */
export function assertPrivateFile(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode;
  if ((mode & 0o077) !== 0) throw new ConfigError(loosePermissionMessage(file, mode));
}
