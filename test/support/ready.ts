// Waiting for a Tollgate built in a test to reach its backends before the test uses them.
import type { Tollgate } from "../../src/server/tollgate.js";

/** How long a Tollgate on a loaded machine may take to reach its backends (FerretDB starting, connects retried). */
const READY_TIMEOUT_MS = 90_000;

/**
 * Resolves once /readyz would say ready (MongoDB connected and indexed, when configured). Tollgate
 * connects in the background and retries; an operation made before the first connect succeeded
 * fails with "Topology is closed" (MongoDB driver 7.x), so seeding waits for this.
 */
export async function untilReady(tollgate: Tollgate): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const report = await tollgate.readiness.report();
    if (report.status === "ready") return;
    if (Date.now() > deadline) throw new Error(`Tollgate not ready within ${READY_TIMEOUT_MS} ms: ${JSON.stringify(report.checks)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
