/**
 * Where the approval console lives, for the links keyward hands out: the URL elicitation sent to
 * an agent's client, `approval_required` errors and `approval.requested` alerts. The address is
 * the configured `console.publicUrl`, or is learned when the console starts listening (port 0 in
 * tests, the bound address in a quick start).
 */
export class ConsoleLinks {
  private base: string | undefined;

  constructor(
    /** False when no operator can sign in (no `console.operators`): no link is ever handed out. */
    readonly enabled: boolean,
    configured?: string,
  ) {
    this.base = configured?.replace(/\/+$/, '');
  }

  /** Records the console's base URL as served (kept when `publicUrl` was configured). */
  served(baseUrl: string): void {
    this.base ??= baseUrl.replace(/\/+$/, '');
  }

  get baseUrl(): string | undefined {
    return this.enabled ? this.base : undefined;
  }

  /** The page of one approval request, or undefined when there is no console. */
  approvalUrl(approvalId: string): string | undefined {
    const base = this.baseUrl;
    return base === undefined ? undefined : `${base}/approvals/${encodeURIComponent(approvalId)}`;
  }
}
