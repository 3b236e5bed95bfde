/**
 * AES-256-GCM sealing of cached credential entries for Redis. The key stays in this process; the
 * additional data binds a ciphertext to its cache key (which hashes backend, tenant-templated ref,
 * field and pinned version), so a value copied under another tenant's key fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CacheEntry } from '../credential-cache.js';

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Parses a 32-byte key given as 64 hex characters or base64 / base64url. */
export function parseCacheKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32)
    throw new Error('the cache encryption key must be 32 bytes (64 hex or 44 base64 characters)');
  return key;
}

function aad(cacheKey: string): Buffer {
  return Buffer.from(`keyward-cache-v${FORMAT}\u0000${cacheKey}`, 'utf8');
}

/** format byte | iv | tag | ciphertext of the JSON entry. */
export function sealEntry(key: Buffer, cacheKey: string, entry: CacheEntry): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(cacheKey));
  const body = Buffer.concat([cipher.update(JSON.stringify(entry), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]);
}

/** The entry, or undefined when the blob is malformed, from another key, or sealed for another cache key. */
export function openEntry(key: Buffer, cacheKey: string, blob: Buffer): CacheEntry | undefined {
  if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== FORMAT) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(aad(cacheKey));
    decipher.setAuthTag(blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
    const plain = Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    const entry = JSON.parse(plain.toString('utf8')) as CacheEntry;
    if (typeof entry?.secret?.value !== 'string' || typeof entry.staleUntil !== 'number') return undefined;
    return entry;
  } catch {
    return undefined;
  }
}
