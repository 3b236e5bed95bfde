/**
 * Wraps any SecretBackend with a per-backend deadline, capped full-jitter retries and a circuit
 * breaker (cockatiel). Only `secret_backend_unavailable` is retried or counted by the breaker:
 * not_found / revoked / invalid / expired are answers, not outages.
 */
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  IsolatedCircuitError,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  retry,
  type CircuitBreakerPolicy,
  type RetryPolicy,
} from 'cockatiel';
import { KeywardError, isKeywardError } from '../core/errors.js';
import type { ProbeResult, Secret, SecretRequest } from '../core/types.js';
import type { BackendConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import type { GetOptions, RotateOptions, SecretBackend, SecretSummary } from './secret-backend.js';

export interface ResilienceOptions {
  /** Retries after the first attempt (config `retries`). */
  readonly retries: number;
  /** Deadline of one backend call (config `timeoutMs`). */
  readonly timeoutMs: number;
  /** Consecutive availability failures that open the breaker. Default 5. */
  readonly breakerThreshold?: number;
  /** How long the breaker stays open before a trial call. Default 10 s. */
  readonly halfOpenAfterMs?: number;
  /** Full-jitter backoff: first cap and maximum cap of the random delay. Defaults 100 ms / 1 s. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Config `staleSeconds`, exposed for the resolver's stale window. */
  readonly staleSeconds?: number;
}

function isUnavailable(error: unknown): boolean {
  return isKeywardError(error) && error.code === 'secret_backend_unavailable';
}

export class ResilientBackend implements SecretBackend {
  readonly set?: (ref: string, value: string) => Promise<{ version: string }>;
  readonly rotate?: (
    ref: string,
    newValue: string | undefined,
    options?: RotateOptions,
  ) => Promise<{ version: string }>;
  readonly remove?: (ref: string) => Promise<void>;
  readonly list?: () => Promise<SecretSummary[]>;
  readonly renew?: (secret: Secret) => Promise<Secret | undefined>;
  readonly onChange?: (listener: (ref: string | undefined) => void) => void;

  private readonly breaker: CircuitBreakerPolicy;
  private readonly retry: RetryPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(
    /** The backend's name in config, used in messages and logs. */
    readonly name: string,
    private readonly inner: SecretBackend,
    private readonly options: ResilienceOptions,
    private readonly logger: Logger,
  ) {
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 10_000;
    this.breaker = circuitBreaker(handleWhen(isUnavailable), {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
    });
    this.breaker.onBreak(() => {
      this.openedAt = Date.now();
      this.logger.warn({ backend: name }, 'secret backend circuit breaker opened');
    });
    this.breaker.onReset(() => this.logger.info({ backend: name }, 'secret backend circuit breaker closed'));
    this.retry = retry(handleWhen(isUnavailable), {
      maxAttempts: options.retries,
      backoff: new ExponentialBackoff({
        generator: fullJitterGenerator,
        initialDelay: options.initialDelayMs ?? 100,
        maxDelay: options.maxDelayMs ?? 1_000,
      }),
    }).dangerouslyUnref();

    const i = inner;
    if (i.set) this.set = (ref, value) => this.deadline(() => i.set!(ref, value), undefined);
    if (i.rotate) {
      this.rotate = (ref, value, opts) => this.deadline(() => i.rotate!(ref, value, opts), undefined);
    }
    if (i.remove) this.remove = (ref) => this.deadline(() => i.remove!(ref), undefined);
    if (i.list) this.list = () => this.deadline(() => i.list!(), undefined);
    if (i.renew) this.renew = (secret) => this.guarded(() => i.renew!(secret), undefined);
    if (i.onChange) this.onChange = (listener) => i.onChange!(listener);
  }

  /** How long past its TTL a cached value of this backend may be served while it is unavailable. */
  get staleSeconds(): number | undefined {
    return this.options.staleSeconds;
  }

  get kind(): string {
    return this.inner.kind;
  }

  get storesOneString(): boolean {
    return this.inner.storesOneString;
  }

  get readPermissionHint(): string {
    return this.inner.readPermissionHint;
  }

  /** The wrapped backend (for CLI commands that need implementation-specific methods). */
  get unwrapped(): SecretBackend {
    return this.inner;
  }

  get(request: SecretRequest, options?: GetOptions): Promise<Secret> {
    return this.guarded((signal) => this.inner.get(request, { ...options, signal }), options?.signal);
  }

  probe(): Promise<ProbeResult> {
    return this.deadline(() => this.inner.probe(), undefined).catch((error: unknown) => ({
      ok: false,
      message: `${this.name}: ${error instanceof Error ? error.message : 'probe failed'}`,
    }));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Retries (outermost) around the breaker around one deadline-bounded attempt. */
  private async guarded<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    try {
      return await this.retry.execute(
        () => this.breaker.execute(() => this.deadline(attempt, signal)),
        signal,
      );
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
        const remainingMs = this.openedAt + this.halfOpenAfterMs - Date.now();
        throw new KeywardError('secret_backend_unavailable', `secret backend "${this.name}" is unavailable`, {
          retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)),
          detail: 'circuit breaker open',
        });
      }
      throw error;
    }
  }

  /**
   * Runs one attempt with its own AbortSignal and a timer race, so a hung backend call fails with
   * secret_backend_unavailable at the deadline even if it ignores the signal.
   */
  private deadline<T>(
    attempt: (signal: AbortSignal) => Promise<T>,
    outer: AbortSignal | undefined,
  ): Promise<T> {
    if (outer?.aborted) return Promise.reject(outer.reason ?? new Error('aborted'));
    const controller = new AbortController();
    const onOuterAbort = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new KeywardError(
          'secret_backend_unavailable',
          `secret backend "${this.name}" timed out`,
          {
            retryAfterSeconds: 1,
            detail: `no answer within ${this.options.timeoutMs} ms`,
          },
        );
        controller.abort(error);
        reject(error);
      }, this.options.timeoutMs);
      timer.unref();
    });
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    return Promise.race([attempt(controller.signal), timeout, aborted]).finally(() => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    });
  }
}

/**
 * Wraps a raw backend with the resilience its config asks for (`timeoutMs`, `retries`,
 * `staleSeconds`). `overrides` tune breaker/backoff (tests, benchmark).
 */
export function withResilience(
  backend: SecretBackend,
  config: Pick<BackendConfig, 'timeoutMs' | 'retries' | 'staleSeconds'>,
  deps: { logger: Logger; clock?: Clock; name: string },
  overrides: Partial<ResilienceOptions> = {},
): ResilientBackend {
  return new ResilientBackend(
    deps.name,
    backend,
    { retries: config.retries, timeoutMs: config.timeoutMs, staleSeconds: config.staleSeconds, ...overrides },
    deps.logger,
  );
}
