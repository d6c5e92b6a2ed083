// A circuit breaker for a backend call that must not make callers wait while the backend is down:
// after a failure every call fails at once (the caller applies its fail-open or fail-closed rule)
// until, after a backoff, one probe call goes through and succeeds.

export type BreakerState = "closed" | "open" | "half_open";

export interface CircuitBreakerOptions {
  /** Wait after the first failure before a probe, ms. Default 100. */
  backoffMs?: number;
  /** Each failed probe doubles the wait, up to this, ms. Default 2000. */
  maxBackoffMs?: number;
  /** Milliseconds clock; injectable for tests. Default performance.now. */
  now?: () => number;
  /** Called on every state change (for logs and metrics). */
  onChange?: (state: BreakerState) => void;
}

/** What acquire() hands out; give it back to succeeded() or failed(). */
export interface Pass {
  /** This call is the half-open probe: its outcome closes or reopens the breaker. */
  readonly probe: boolean;
}

const THROUGH: Pass = Object.freeze({ probe: false });
const PROBE: Pass = Object.freeze({ probe: true });

export class CircuitBreaker {
  #state: BreakerState = "closed";
  #retryAt = 0;
  readonly #initialBackoff: number;
  readonly #maxBackoff: number;
  #backoff: number;
  readonly #now: () => number;
  readonly #onChange: ((state: BreakerState) => void) | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#initialBackoff = options.backoffMs ?? 100;
    this.#maxBackoff = Math.max(this.#initialBackoff, options.maxBackoffMs ?? 2_000);
    this.#backoff = this.#initialBackoff;
    this.#now = options.now ?? (() => performance.now());
    this.#onChange = options.onChange;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** A pass to make the call, or null: fail it at once. Once the backoff is over, one probe at a time. */
  acquire(): Pass | null {
    if (this.#state === "closed") return THROUGH;
    if (this.#state === "open" && this.#now() >= this.#retryAt) {
      this.#set("half_open");
      return PROBE;
    }
    return null;
  }

  succeeded(pass: Pass): void {
    if (!pass.probe) return; // calls let through before the breaker opened prove nothing now
    this.#backoff = this.#initialBackoff;
    this.#set("closed");
  }

  failed(pass: Pass): void {
    if (pass.probe) this.#backoff = Math.min(this.#backoff * 2, this.#maxBackoff);
    else if (this.#state !== "closed") return; // already open, or a probe is deciding
    this.#retryAt = this.#now() + this.#backoff;
    this.#set("open");
  }

  #set(state: BreakerState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#onChange?.(state);
  }
}
