import cluster, { type Worker } from "node:cluster";
import type { Config } from "../config/config.js";
import type { Logger } from "../log.js";
import { aggregateWorkerMetrics } from "./cluster-metrics.js";

const RESTART_DELAY_MS = 1_000;
/** The exit code of a process that could not start: configuration or policy (serve.ts). */
export const START_UP_FAILED = 2;
/** After the drain: time to finish requests in flight and flush the audit queue (its close gives up after 5 s). */
export const SHUTDOWN_LIMIT_MS = 10_000;

/**
 * What a process does besides serving requests. A single process does all of it; with workers,
 * each duty belongs to one worker, so the replica prunes once and seeds the demo once.
 * - `prune`: the audit and temp-token pruners (a FerretDB prune is seconds of database CPU; one
 *   per worker would repeat it for nothing). A replaced pruning worker's successor takes it over.
 * - `seed-demo`: seeding and printing the demo world (TOLLGATE_DEMO=true), once per replica start.
 */
export type Duty = "prune" | "seed-demo";
const DUTIES_ENV = "TOLLGATE_WORKER_DUTIES";

/** This process's duties: all of them unless it is a worker, then what the primary gave it at fork. */
export function duties(): Set<Duty> {
  if (!cluster.isWorker) return new Set(["prune", "seed-demo"]);
  const given = (process.env[DUTIES_ENV] ?? "").split(",");
  return new Set((["prune", "seed-demo"] as const).filter((d) => given.includes(d)));
}

/**
 * The primary with TOLLGATE_WORKERS > 1: forks the workers (sharing the ports; every worker
 * loads the policy, holds its own fact cache and its own invalidation subscription), replaces
 * one that exits, answers /metrics scrapes with every worker's metrics, and on SIGTERM/SIGINT
 * passes the signal on and waits for the workers to drain. It serves no request itself.
 */
export function supervise(config: Config, logger: Logger): void {
  logger.info({ workers: config.workers }, "starting workers");
  aggregateWorkerMetrics();
  const dutiesOf = new Map<Worker, Duty[]>();
  const fork = (given: Duty[]): void => {
    const worker = cluster.fork({ [DUTIES_ENV]: given.join(",") });
    dutiesOf.set(worker, given);
  };
  fork(["prune", "seed-demo"]);
  for (let i = 1; i < config.workers; i++) fork([]);
  let stopping = false;
  cluster.on("exit", (worker, code, signal) => {
    // The demo is seeded once; pruning passes on to the replacement.
    const inherited = (dutiesOf.get(worker) ?? []).filter((d) => d === "prune");
    dutiesOf.delete(worker);
    if (stopping) return;
    if (code === START_UP_FAILED) {
      // A configuration or policy error is the same in every worker and every restart: stop, as a
      // single process would, rather than restart the worker every second forever.
      logger.error({ pid: worker.process.pid }, "a worker could not start (its message is above); stopping");
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill("SIGKILL");
      process.exit(START_UP_FAILED);
    }
    logger.error({ pid: worker.process.pid, code, signal }, "worker exited; starting another");
    setTimeout(() => stopping || fork(inherited), RESTART_DELAY_MS);
  });
  let failed = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // The signal itself, not worker.kill(): that disconnects the worker first, which stops its
    // share of the port at once instead of after the drain.
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    for (const worker of workers) worker.process.kill("SIGTERM");
    // A worker gives up at drainMs + SHUTDOWN_LIMIT_MS; this allows for its exit.
    setTimeout(() => process.exit(1), config.drainMs + SHUTDOWN_LIMIT_MS + 1_000).unref();
    // Counted here: cluster.workers may still list a worker that has exited, until its IPC closes.
    let running = workers.length;
    cluster.on("exit", (_worker, code, signal) => {
      // Killed by the signal itself: the worker was still starting, with nothing to drain yet.
      if (code !== 0 && signal !== "SIGTERM") failed = true;
      if (--running === 0) process.exit(failed ? 1 : 0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
