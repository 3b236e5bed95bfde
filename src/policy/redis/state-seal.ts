/**
 * Grants and approvals in Redis carry an HMAC under a key Redis never sees (issue 14): derived
 * from `cache.encryptionKey` (HKDF, its own label), held by each replica and by `keyward grants`.
 * A record written by anyone else (a grant JSON put into Redis to let an approve-gated call through,
 * an approval edited to widen what was approved) fails to open; the store logs it, raises the
 * `state.forged` alert and treats the record as absent.
 *
 * The seal binds a record to its kind and id, so a valid record cannot be copied under another id.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const FORMAT = 'kw1';

export class StateSeal {
  private readonly key: Buffer;

  constructor(rootKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'keyward grant-store seal v1', 32));
  }

  private mac(kind: string, id: string, json: string): string {
    return createHmac('sha256', this.key).update(`${kind}\u0000${id}\u0000${json}`).digest('base64url');
  }

  /** `kw1.<mac>.<json>`: what is stored. */
  seal(kind: string, id: string, json: string): string {
    return `${FORMAT}.${this.mac(kind, id, json)}.${json}`;
  }

  /** The JSON when the seal holds, else undefined (unsealed, altered, or sealed for another id). */
  open(kind: string, id: string, stored: string): string | undefined {
    const first = stored.indexOf('.');
    const second = stored.indexOf('.', first + 1);
    if (first === -1 || second === -1 || stored.slice(0, first) !== FORMAT) return undefined;
    const given = Buffer.from(stored.slice(first + 1, second));
    const json = stored.slice(second + 1);
    const expected = Buffer.from(this.mac(kind, id, json));
    return given.length === expected.length && timingSafeEqual(given, expected) ? json : undefined;
  }
}
