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

/** The named dependency checks behind /readyz, and the draining mark set at shutdown. */
export class Readiness {
  #draining = false;

  constructor(
    private readonly checks: Record<string, ReadinessCheck>,
    private readonly logger: Logger,
  ) {}

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
