// Formats a keyward alert (docs/approvals.md, "Alerts") as a Slack-style incoming-webhook message.

/** The JSON keyward POSTs to notifier.webhook (src/observability/notifier.ts, Alert). */
export interface KeywardAlert {
  readonly type: string;
  readonly message: string;
  readonly agent?: string;
  readonly tenant?: string;
  readonly tool?: string;
  readonly permission?: string;
  readonly url?: string;
  readonly details?: Record<string, unknown>;
  readonly time?: string;
  readonly source?: string;
}

/** One chat line per alert, with the console link when keyward has a console. */
export function toSlack(alert: KeywardAlert): { text: string } {
  const who = alert.agent === undefined ? '' : `*${alert.agent}* (${alert.tenant}) `;
  if (alert.type === 'approval.requested') {
    return {
      text:
        `:lock: ${who}asks for \`${alert.permission}\`` +
        (alert.tool ? ` via \`${alert.tool}\`` : '') +
        (alert.url ? `\n<${alert.url}|Review in the keyward console>` : `\n${alert.message}`),
    };
  }
  return { text: `:warning: ${alert.type}: ${alert.message}` };
}
