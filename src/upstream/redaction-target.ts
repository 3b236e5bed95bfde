/** What the redactor removes: one secret-bearing string, and whether its partial runs count too. */
export interface RedactionTarget {
  readonly value: string;
  /**
   * True for a secret itself (its partial runs of the secret core are removed too); false for a
   * public wrapper around it (`Bearer …`, `Basic …`, a header format), which is removed only whole:
   * its first characters are public, so matching its windows would be a guessing oracle.
   */
  readonly partials: boolean;
}

export const secretTarget = (value: string): RedactionTarget => ({ value, partials: true });
export const wrapperTarget = (value: string): RedactionTarget => ({ value, partials: false });
