/**
 * Alerts: high-severity events go to the log always and, when configured, to a webhook as a
 * JSON POST (timeout, retries with backoff). Events carry names, ids and codes only, never a
 * secret. Delivery never blocks or fails the call that raised the event.
 */
import type { KeywardConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from './logger.js';

export type AlertType =
  | 'credential.revoked'
  | 'rotation.failed'
  | 'audit.failure'
  | 'denials.repeated'
  | 'approval.requested'
  | 'state.forged';

export interface Alert {
  readonly type: AlertType;
  /** One line for humans; built from names and codes only. */
  readonly message: string;
  readonly agent?: string;
  readonly tenant?: string;
  readonly tool?: string;
  readonly permission?: string;
  /** A page where a human acts on the alert (approval.requested: the request in the console). */
  readonly url?: string;
  /** Extra non-secret fields (approval id, rule ids, credential id, counts). */
  readonly details?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

export interface Notifier {
  /** Records the alert; returns at once (webhook delivery happens in the background). */
  notify(alert: Alert): void;
  /** Waits for background deliveries (shutdown, tests). */
  flush(): Promise<void>;
}

export interface NotifierOptions {
  readonly config: KeywardConfig['notifier'];
  readonly logger: Logger;
  readonly clock: Clock;
  /** Injected for tests; defaults to global fetch. */
  readonly fetch?: typeof fetch;
}

/** Log + optional webhook notifier; also counts denials per agent to raise `denials.repeated`. */
export class WebhookNotifier implements Notifier {
  private readonly pending = new Set<Promise<void>>();
  private readonly denials = new Map<string, number[]>();

  constructor(private readonly options: NotifierOptions) {}

  notify(alert: Alert): void {
    this.options.logger.warn({ alert: alert.type, ...alert }, `alert: ${alert.message}`);
    const webhook = this.options.config.webhook;
    if (webhook === undefined) return;
    const body = JSON.stringify({
      ...alert,
      time: new Date(this.options.clock.now()).toISOString(),
      source: 'keyward',
    });
    const delivery = this.deliver(webhook, body).finally(() => this.pending.delete(delivery));
    this.pending.add(delivery);
  }

  /**
   * Counts a denial for an agent; raises `denials.repeated` once each time the count within the
   * configured window reaches the threshold.
   */
  recordDenial(
    agent: string,
    tenant: string,
    details: { tool: string; permission: string; code: string },
  ): void {
    const { count, windowSeconds } = this.options.config.repeatedDenials;
    const now = this.options.clock.now();
    const key = `${tenant}\u0000${agent}`;
    const recent = (this.denials.get(key) ?? []).filter((t) => now - t < windowSeconds * 1000);
    recent.push(now);
    if (recent.length >= count) {
      this.denials.set(key, []);
      this.notify({
        type: 'denials.repeated',
        message: `agent ${agent} was denied ${recent.length} times within ${windowSeconds} s`,
        agent,
        tenant,
        tool: details.tool,
        permission: details.permission,
        details: { count: recent.length, lastCode: details.code },
      });
    } else {
      this.denials.set(key, recent);
    }
    if (this.denials.size > 10_000) this.denials.clear();
  }

  private async deliver(
    webhook: NonNullable<KeywardConfig['notifier']['webhook']>,
    body: string,
  ): Promise<void> {
    const doFetch = this.options.fetch ?? fetch;
    for (let attempt = 0; attempt <= webhook.retries; attempt++) {
      try {
        const response = await doFetch(webhook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(webhook.timeoutMs),
          redirect: 'manual',
        });
        await response.body?.cancel().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return;
        if (response.status >= 400 && response.status < 500 && response.status !== 429) break;
      } catch {
        // network error or timeout: retry below
      }
      if (attempt < webhook.retries) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
    this.options.logger.error({ webhook: new URL(webhook.url).origin }, 'alert webhook delivery failed');
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
