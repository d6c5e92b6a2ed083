// The audit trail with MongoDB stopped or never reachable. Needs a server it may stop: its own
// FerretDB (one per file), also when MONGODB_URI points elsewhere.
import { performance } from "node:perf_hooks";
import { describe, expect, it, vi } from "vitest";
import { MongoClient } from "mongodb";
import { failFastMongoOptions } from "../../src/stores/mongo/client.js";
import { ensureAuditIndexes } from "../../src/audit/mongo/schema.js";
import { MongoAuditSink } from "../../src/audit/mongo/sink.js";
import { MongoAuditStore } from "../../src/audit/mongo/store.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { CLOSED_PORT, canStartFerretDb, startFerretDb } from "../support/servers.js";
import { CountingCounters, auditRecord, waitFor } from "./fixtures.js";

function expectAccounted(s: MongoAuditSink, recorded: number): void {
  const st = s.stats();
  expect(st.written + st.dropped.queue_full + st.dropped.write_failed + st.dropped.invalid + st.queued + st.in_flight).toBe(recorded);
}

/**
 * 10,000 record() calls take milliseconds; far above that, this bound fails on per-record I/O or
 * waiting, not on a loaded machine.
 */
const BURST_MAX_MS = 5_000;

/** Calls record() n times; returns the elapsed milliseconds and how many calls threw. */
function recordMany(s: MongoAuditSink, n: number): { ms: number; threw: number } {
  const records = Array.from({ length: n }, () => auditRecord());
  let threw = 0;
  const started = performance.now();
  for (const r of records) {
    try {
      s.record(r);
    } catch {
      threw++;
    }
  }
  return { ms: performance.now() - started, threw };
}

describe("mongo audit with MongoDB down", () => {
  it.skipIf(Boolean(process.env.MONGODB_URI) && !canStartFerretDb())(
    "(b) record() stays fast and never throws, the queue stays bounded and drops are counted; (d) close() counts what it could not write",
    async () => {
      const own = await startFerretDb();
      const client = new MongoClient(own.uri, { ...failFastMongoOptions });
      try {
        const db = client.db();
        await ensureAuditIndexes(db, 30);
        const counters = new CountingCounters();
        const warn = vi.fn();
        const s = new MongoAuditSink(db, { batchSize: 100, flushIntervalMs: 50, maxBackoffMs: 400, closeTimeoutMs: 1_000, counters, logger: { warn } });
        const store = new MongoAuditStore(db);
        for (let i = 0; i < 10; i++) s.record(auditRecord());
        await s.flush();
        expect(s.stats().written).toBe(10);

        await own.stop();
        const query = store.query({ limit: 10 }).catch((e: unknown) => e);

        // 10,000 records in one burst fill the (default) queue: fast, no throw.
        expect(s.maxQueue).toBe(10_000);
        const burst = recordMany(s, 10_000);
        expect(burst.threw).toBe(0);
        expect(burst.ms).toBeLessThan(BURST_MAX_MS);
        expect(s.stats()).toMatchObject({ queued: 10_000, in_flight: 0, dropped: { queue_full: 0, write_failed: 0, invalid: 0 } });
        // Beyond it, exactly the overflow is dropped.
        const overflow = recordMany(s, 2_000);
        expect(overflow.threw).toBe(0);
        expect(s.stats()).toMatchObject({ queued: 10_000, in_flight: 0, dropped: { queue_full: 2_000, write_failed: 0, invalid: 0 } });
        expectAccounted(s, 12_010);

        // The first write fails (after the driver's server selection timeout); the queue had room
        // for the batch, so nothing more is lost.
        await waitFor("a failed write", () => s.stats().failures >= 1);
        expect(s.stats()).toMatchObject({ dropped: { queue_full: 2_000, write_failed: 0 } });
        expect(s.stats().queued + s.stats().in_flight).toBe(10_000);
        expect(s.stats().interval_ms).toBe(100); // backing off

        // While the next attempt is in flight the queue fills again: that batch is dropped when it fails.
        await waitFor("the next attempt", () => s.stats().in_flight === 100);
        const during = recordMany(s, 200);
        expect(during.threw).toBe(0);
        expect(s.stats()).toMatchObject({ queued: 10_000, dropped: { queue_full: 2_100 } });
        await waitFor("the second failure", () => s.stats().failures >= 2);
        expect(s.stats()).toMatchObject({ dropped: { queue_full: 2_100, write_failed: 100 } });
        expectAccounted(s, 12_210);
        expect(counters.droppedTotal).toEqual(s.stats().dropped);
        expect(counters.writtenTotal).toBe(10);
        expect(warn).toHaveBeenCalledTimes(1); // at most once per minute

        // Still fast while backing off.
        const again = recordMany(s, 10_000);
        expect(again.threw).toBe(0);
        expect(again.ms).toBeLessThan(BURST_MAX_MS);
        expectAccounted(s, 22_210);

        // Reads fail as BackendUnavailableError, like every store.
        expect(await query).toBeInstanceOf(BackendUnavailableError);

        // (d) close() gives up and counts what it could not write (the bound itself: the next test).
        await s.close();
        expect(s.stats().queued).toBe(0);
        expect(() => s.record(auditRecord())).not.toThrow();
        await waitFor("the last attempt to settle", () => s.stats().in_flight === 0);
        expectAccounted(s, 22_211);
        expect(s.stats().written).toBe(10);
      } finally {
        await client.close().catch(() => {});
        await own.stop();
      }
    },
  );

  it("(d) close() is bounded even when server selection would take 30 s", async () => {
    // No fail-fast options: the driver's default 30 s server selection.
    const client = new MongoClient(`mongodb://127.0.0.1:${CLOSED_PORT}/x`);
    try {
      const s = new MongoAuditSink(client.db(), { batchSize: 10, closeTimeoutMs: 300 });
      for (let i = 0; i < 25; i++) s.record(auditRecord());
      await s.close();
      // close() returned while the first batch still waits for a server (30 s): it did not wait for it.
      expect(s.stats()).toMatchObject({ queued: 0, written: 0, in_flight: 10, dropped: { write_failed: 15 } });
      expectAccounted(s, 25);
    } finally {
      await client.close().catch(() => {});
    }
  });
});
