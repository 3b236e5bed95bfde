/**
 * The credentials recently sent to each upstream origin. A response is redacted for all of them,
 * not only for the one this call injected: during a rotation overlap the upstream may still echo
 * the previous version, and an origin shared by several credentials (per-tenant keys, a client
 * secret beside its access token) must not hand one caller another's value (issue 12 §2).
 *
 * Insertion-ordered and deduplicated, so a steady set of credentials keeps one compiled redactor;
 * bounded per origin (the oldest value is forgotten first). Only what this process injected is
 * known: a version from before a restart is not (docs/security.md, limits).
 */
import type { RedactionTarget } from './redaction-target.js';

export const MAX_VALUES_PER_ORIGIN = 64;

export class OriginSecrets {
  private readonly byOrigin = new Map<string, Map<string, RedactionTarget>>();

  /** Records `targets` for `origin` and returns everything to redact for it (these included). */
  remember(origin: string, targets: readonly RedactionTarget[]): readonly RedactionTarget[] {
    let known = this.byOrigin.get(origin);
    if (known === undefined) {
      if (targets.length === 0) return targets;
      known = new Map();
      this.byOrigin.set(origin, known);
    }
    let changed = false;
    for (const target of targets) {
      const key = `${target.partials ? 'p' : 'w'}${target.value}`;
      if (known.has(key)) continue;
      known.set(key, target);
      changed = true;
      if (known.size > MAX_VALUES_PER_ORIGIN) {
        const oldest = known.keys().next().value;
        if (oldest !== undefined) known.delete(oldest);
      }
    }
    let snapshot = this.snapshots.get(origin);
    if (changed || snapshot === undefined) {
      snapshot = [...known.values()];
      this.snapshots.set(origin, snapshot);
    }
    return snapshot;
  }

  // The same array while nothing changes, so callers can cache by identity cheaply.
  private readonly snapshots = new Map<string, readonly RedactionTarget[]>();
}
