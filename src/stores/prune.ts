import type { AuditLogger } from "../audit/types.js";
import { ThrottledWarn } from "../audit/warn.js";
import type { Pruner } from "./types.js";

export interface PruningOptions {
  /** Between runs. Default 15 minutes (±10 % jitter, so replicas spread out). */
  intervalMs?: number;
  /** Before the first run. Default 30 s. */
  initialDelayMs?: number;
  /** Failures are warned at most once per minute. */
  logger?: AuditLogger;
  now?: () => Date;
}

export interface Pruning {
  /** Prunes now (not overlapping a run under way); resolves to the number deleted, 0 on failure. */
  runNow(): Promise<number>;
  stop(): void;
}

/**
 * Calls pruner.prune(now) periodically on an unref()ed timer (the audit trail, temp tokens). Runs
 * never overlap; a failure (e.g. MongoDB down) is logged and retried at the next interval. Safe on
 * every replica at once. `what` names the pruned data in the log.
 */
export function startPruning(what: string, pruner: Pruner, options: PruningOptions = {}): Pruning {
  const intervalMs = options.intervalMs ?? 15 * 60_000;
  const now = options.now ?? (() => new Date());
  const warn = new ThrottledWarn(options.logger);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | null = null;
  let stopped = false;

  const run = (): Promise<number> => {
    running ??= pruner
      .prune(now())
      .catch((err: unknown) => {
        warn.warn({ err: String(err) }, `${what} prune failed; retrying at the next interval`);
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void run().finally(() => schedule(intervalMs * (0.9 + Math.random() * 0.2))), delay).unref();
  };
  schedule(options.initialDelayMs ?? 30_000);

  return {
    runNow: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
