/** What a scenario returns: its data for the JSON and a Markdown section for the summary. */
export interface ScenarioResult {
  readonly title: string;
  /** Markdown table header and rows. */
  readonly headers: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  readonly notes?: readonly string[];
  readonly data: unknown;
}

export interface ScenarioContext {
  readonly quick: boolean;
  readonly upstream: string;
  readonly upPid: number;
}

export const fmt = (x: number | undefined, d = 3): string =>
  x !== undefined && Number.isFinite(x) ? x.toFixed(d) : 'n/a';
export const log = (s: string): void => void process.stderr.write(s + '\n');
