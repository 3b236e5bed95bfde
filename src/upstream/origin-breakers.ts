/**
 * One circuit breaker per upstream origin (cockatiel's sampling breaker): when enough recent calls
 * to an origin fail with 5xx, network errors or timeouts, calls to it fail fast for a while
 * (upstream_error with retryAfterSeconds, nothing sent), then one half-open probe decides. Other
 * outcomes (2xx, 4xx, 429, auth rejections) count as successes: the origin is answering.
 */
import {
  BrokenCircuitError,
  circuitBreaker,
  handleWhen,
  SamplingBreaker,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { KeywardError, isKeywardError } from '../core/errors.js';

export interface BreakerSettings {
  /** Failure ratio (0–1) over the window that opens the breaker. */
  readonly threshold: number;
  /** Calls needed in the window before the ratio counts. */
  readonly minimumCalls: number;
  readonly windowSeconds: number;
  /** How long the breaker stays open before a half-open probe. */
  readonly openSeconds: number;
}

function isOriginFailure(error: Error): boolean {
  return isKeywardError(error) && (error.code === 'upstream_error' || error.code === 'upstream_timeout');
}

export class OriginBreakers {
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();

  constructor(private readonly settings: BreakerSettings) {}

  async run<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    let policy = this.breakers.get(origin);
    if (policy === undefined) {
      const { threshold, minimumCalls, windowSeconds, openSeconds } = this.settings;
      policy = circuitBreaker(handleWhen(isOriginFailure), {
        halfOpenAfter: openSeconds * 1000,
        breaker: new SamplingBreaker({
          threshold,
          duration: windowSeconds * 1000,
          minimumRps: minimumCalls / windowSeconds,
        }),
      });
      this.breakers.set(origin, policy);
    }
    try {
      return await policy.execute(fn);
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new KeywardError(
          'upstream_error',
          'the upstream has been failing; keyward paused calls to it (circuit open)',
          { retryAfterSeconds: this.settings.openSeconds },
        );
      }
      throw error;
    }
  }

  /** Breaker state per origin, for metrics. */
  states(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [origin, policy] of this.breakers) out[origin] = String(policy.state);
    return out;
  }
}
