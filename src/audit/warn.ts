import type { AuditLogger } from "./types.js";

export const WARN_INTERVAL_MS = 60_000;

/** Logs at most once per interval; what was suppressed in between is summed into the next line. */
export class ThrottledWarn {
  #last = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(
    private readonly logger: AuditLogger | undefined,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = WARN_INTERVAL_MS,
  ) {}

  /** `obj` may be a function, called only when the line is actually logged (hot paths). */
  warn(obj: Record<string, unknown> | (() => Record<string, unknown>), msg: string): void {
    if (!this.logger) return;
    const now = this.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#last = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    try {
      const fields = typeof obj === "function" ? obj() : obj;
      this.logger.warn(suppressed > 0 ? { ...fields, suppressed_warnings: suppressed } : fields, msg);
    } catch {
      // a broken logger must not break the hot path
    }
  }
}

/** Calls a counter without letting it throw into the caller. */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // metrics are best effort
  }
}
