import type { Logger } from "../log.js";

/** What /readyz says of one dependency: a state, never the driver's message (that goes to the log). */
export type CheckState = "ok" | "degraded" | "unavailable";

export interface ReadinessCheck {
  /** Resolves when the dependency answers; rejects (or takes over CHECK_TIMEOUT_MS) when it does not. */
  probe(): Promise<void>;
  /**
   * true: Tollgate cannot serve without it, so a failure is "unavailable" and Tollgate not_ready.
   * false: Tollgate serves on with that part impaired (Redis with TOLLGATE_RATE_LIMIT_FAIL=open
   * admits requests uncounted), so a failure is "degraded".
   */
  required: boolean;
}

export type ReadinessStatus = "ready" | "degraded" | "not_ready" | "draining";

export interface ReadinessReport {
  status: ReadinessStatus;
  checks: Record<string, CheckState>;
}

export const CHECK_TIMEOUT_MS = 2000;

/** ready and degraded still take traffic (200); not_ready and draining do not (503). */
export function readinessHttpStatus(status: ReadinessStatus): 200 | 503 {
  return status === "ready" || status === "degraded" ? 200 : 503;
}

/**
 * What /healthz asks of one part of this process: is it wedged, so that only a restart helps?
 * Never "is a backend down": every replica would be restarted at once, and none would be better.
 */
export interface WedgeCheck {
  wedged(): boolean;
}

export type LivenessStatus = "ok" | "wedged";

export interface LivenessReport {
  status: LivenessStatus;
  checks: Record<string, LivenessStatus>;
}

/** An event-loop stall longer than this is a wedge (see EventLoopWatch). */
export const EVENT_LOOP_STALL_MS = 5_000;

export interface EventLoopWatchOptions {
  /** How often the watch's timer ticks, ms. Default 500. */
  intervalMs?: number;
  /** A tick this much later than due is a stall. Default EVENT_LOOP_STALL_MS. */
  stallMs?: number;
  /** How long /healthz reports a stall after it ended, ms: a liveness probe that came during it saw nothing. Default 30 s. */
  reportMs?: number;
  /** Milliseconds clock; injectable for tests. Default performance.now. */
  now?: () => number;
}

/**
 * A timer that notices when it ran much later than due: the event loop was blocked (a runaway
 * synchronous loop, a stuck native call). While the loop is blocked nothing answers, /healthz
 * included; once it runs again, /healthz says "wedged" for reportMs, so a probe sees it.
 */
export class EventLoopWatch implements WedgeCheck {
  readonly #intervalMs: number;
  readonly #stallMs: number;
  readonly #reportMs: number;
  readonly #now: () => number;
  #last: number;
  #stalledAt: number | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: EventLoopWatchOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 500;
    this.#stallMs = options.stallMs ?? EVENT_LOOP_STALL_MS;
    this.#reportMs = options.reportMs ?? 30_000;
    this.#now = options.now ?? (() => performance.now());
    this.#last = this.#now();
  }

  start(): this {
    this.#last = this.#now();
    this.#timer = setInterval(() => this.tick(), this.#intervalMs);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One tick of the timer (called by it; by tests directly). */
  tick(): void {
    const now = this.#now();
    if (now - this.#last - this.#intervalMs > this.#stallMs) this.#stalledAt = now;
    this.#last = now;
  }

  wedged(): boolean {
    return this.#stalledAt !== null && this.#now() - this.#stalledAt < this.#reportMs;
  }
}

/** The named dependency checks behind /readyz, the draining mark set at shutdown, and the wedge checks behind /healthz. */
export class Readiness {
  #draining = false;

  constructor(
    private readonly checks: Record<string, ReadinessCheck>,
    private readonly logger: Logger,
    private readonly wedgeChecks: Record<string, WedgeCheck> = {},
  ) {}

  /** /healthz: wedged (503) only when a part of this process is stuck; backends are /readyz's business. */
  liveness(): LivenessReport {
    const checks: Record<string, LivenessStatus> = {};
    for (const [name, check] of Object.entries(this.wedgeChecks)) checks[name] = check.wedged() ? "wedged" : "ok";
    const status: LivenessStatus = Object.values(checks).includes("wedged") ? "wedged" : "ok";
    if (status === "wedged") this.logger.error({ checks }, "wedged: /healthz fails so that this process is restarted");
    return { status, checks };
  }

  /** Shutdown has begun: from now on /readyz answers 503 draining, so load balancers stop sending. */
  drain(): void {
    this.#draining = true;
  }

  async report(): Promise<ReadinessReport> {
    const checks: Record<string, CheckState> = {};
    await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check.probe(), CHECK_TIMEOUT_MS);
          checks[name] = "ok";
        } catch (err) {
          checks[name] = check.required ? "unavailable" : "degraded";
          this.logger.warn({ check: name, state: checks[name], err: err instanceof Error ? err.message : String(err) }, "readiness check failed");
        }
      }),
    );
    const states = Object.values(checks);
    const status: ReadinessStatus = this.#draining
      ? "draining"
      : states.includes("unavailable")
        ? "not_ready"
        : states.includes("degraded")
          ? "degraded"
          : "ready";
    return { status, checks };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}
