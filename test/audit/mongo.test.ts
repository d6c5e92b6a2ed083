// The audit contract against a real FerretDB (or MONGODB_URI): one server for the file, a fresh
// database per test. Plus the sink's queue, batching and failure handling, with the real
// collection behind a fake where a test needs MongoDB to fail on cue.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MongoClient, type Collection, type Db } from "mongodb";
import { auditPartitionCollection, ensureAuditIndexes, LEGACY_AUDIT_COLLECTION, listAuditPartitions, parseAuditPartition, partitionOf, toAuditDoc, type AuditDoc } from "../../src/audit/mongo/schema.js";
import { MongoAuditSink, type AuditInsertTarget } from "../../src/audit/mongo/sink.js";
import { MongoAuditStore } from "../../src/audit/mongo/store.js";
import type { AuditRecord } from "../../src/audit/types.js";
import { startMongo, type MongoServer } from "../support/servers.js";
import { describeAuditContract } from "./audit.contract.js";
import { CountingCounters, DAY, T0, at, auditRecord, sleep, waitFor } from "./fixtures.js";

let server: MongoServer;
let client: MongoClient;
let counter = 0;
const sinks: MongoAuditSink[] = [];

beforeAll(async () => {
  server = await startMongo();
  // The driver's default timeouts: a loaded machine may answer slowly.
  client = new MongoClient(server.uri);
  await client.connect();
});

afterAll(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await client?.close();
  await server?.stop();
});

/** A fresh database; `audit` is the partition of T0, where the fixtures' records go by default. */
async function freshDb(retentionDays = 30): Promise<{ db: Db; audit: Collection<AuditDoc>; cleanup: () => Promise<void> }> {
  const db = client.db(`${server.dbName}_${++counter}`);
  await ensureAuditIndexes(db, retentionDays, T0);
  return { db, audit: db.collection<AuditDoc>(auditPartitionCollection(partitionOf(T0))), cleanup: async () => void (await db.dropDatabase()) };
}

/** Every audit document in `db`: the partitions and the legacy collection. */
async function rawAudit(db: Db): Promise<AuditDoc[]> {
  const names = [...(await listAuditPartitions(db)).map(auditPartitionCollection), LEGACY_AUDIT_COLLECTION];
  return (await Promise.all(names.map((n) => db.collection<AuditDoc>(n).find().toArray()))).flat();
}

type Inserter = Pick<Collection<AuditDoc>, "insertMany">;

/** A sink target that sends every partition to one (fake or wrapped) collection. */
const oneCollection = (inserter: Inserter): AuditInsertTarget => ({ collection: () => inserter });

function sink(target: Db | AuditInsertTarget, options: ConstructorParameters<typeof MongoAuditSink>[1] = {}): MongoAuditSink {
  const s = new MongoAuditSink(target, { flushIntervalMs: 20, ...options });
  sinks.push(s);
  return s;
}

/** recorded = written + dropped + queued + in flight, always. */
function expectAccounted(s: MongoAuditSink, recorded: number): void {
  const st = s.stats();
  expect(st.written + st.dropped.queue_full + st.dropped.write_failed + st.dropped.invalid + st.queued + st.in_flight).toBe(recorded);
}

const networkError = () => Object.assign(new Error("connection refused"), { name: "MongoNetworkError" });

describeAuditContract("mongo", async ({ retentionDays, now }) => {
  const { db, cleanup } = await freshDb(retentionDays);
  return {
    sink: sink(db),
    store: new MongoAuditStore(db, { retentionDays, now }),
    raw: () => rawAudit(db),
    cleanup,
  };
});

describe("mongo audit: schema", () => {
  it("ensureAuditIndexes is idempotent and indexes the current partition; the sink indexes each new partition it writes to", async () => {
    const { db, audit, cleanup } = await freshDb();
    try {
      await ensureAuditIndexes(db, 30, T0);
      await ensureAuditIndexes(db, 7, T0); // a changed retention is not an error
      const names = (await audit.listIndexes().toArray()).map((i) => i.name);
      expect(names).toEqual(expect.arrayContaining(["time_id", "user_time_id", "token_time_id", "source_time_id", "mcp_tool_time_id", "mcp_method_time_id"]));
      await expect(ensureAuditIndexes(db, 0)).rejects.toThrow(/retentionDays/);

      const s = sink(db);
      s.record(auditRecord({ time: at(3 * DAY) }));
      await s.flush();
      const later = db.collection<AuditDoc>(auditPartitionCollection(partitionOf(at(3 * DAY))));
      expect((await later.listIndexes().toArray()).map((i) => i.name)).toEqual(expect.arrayContaining(["time_id", "user_time_id"]));
    } finally {
      await cleanup();
    }
  });

  it("names partitions audit_YYYYMMDDHH (UTC hours) and reads them back; other names are no partitions", () => {
    const start = partitionOf(new Date("2030-01-02T23:59:59.999Z"));
    expect(auditPartitionCollection(start)).toBe("audit_2030010223");
    expect(parseAuditPartition("audit_2030010223")).toBe(start);
    expect(auditPartitionCollection(partitionOf(new Date("2030-01-03T00:00:00.000Z")))).toBe("audit_2030010300");
    for (const other of ["audit", "audit_20300102", "audit_2030130100", "audit_2030023000", "audit_2030010224", "audit_2030010200x", "tokens"]) {
      expect(parseAuditPartition(other), other).toBeNull();
    }
  });

  it("persists the documented shape: decision_id as _id, BSON dates, no query string", async () => {
    const { db, audit, cleanup } = await freshDb();
    try {
      const s = sink(db);
      const r = auditRecord({ path: "/api/v1/user?token=abc" });
      s.record(r);
      await s.flush();
      const doc = await audit.findOne({ _id: r.decision_id });
      expect(doc).not.toBeNull();
      expect(doc!.time).toBeInstanceOf(Date);
      expect(doc!.path).toBe("/api/v1/user");
      expect(Object.keys(doc!)).not.toContain("decision_id");
      expect(Object.keys(doc!).sort()).toEqual(
        ["_id", "time", "source", "subject_type", "user_id", "token_id", "method", "path", "route", "allow", "status", "reasons", "rate_limit", "upstream_status", "latency_ms", "action", "target", "client_address", "policy_revision", "user_agent", "mcp"].sort(),
      );
      // A record written before MCP messages were recorded has no mcp: read back as null.
      const { mcp: _mcp, ...older } = toAuditDoc(auditRecord({ time: at(1) }));
      await audit.insertOne(older);
      const page = await new MongoAuditStore(db, { now: () => T0 }).query({ limit: 10 });
      expect(page.records.find((x) => x.decision_id === older._id)?.mcp).toBeNull();
      expect(await new MongoAuditStore(db, { now: () => T0 }).query({ limit: 10, mcp_method: "tools/call" })).toEqual({ records: [], next_cursor: null });
    } finally {
      await cleanup();
    }
  });
});

describe("mongo audit sink", () => {
  it("(a) a burst larger than the queue: exactly the overflow is dropped, memory stays bounded, the rest is written", async () => {
    const { db, audit, cleanup } = await freshDb();
    try {
      const counters = new CountingCounters();
      const s = sink(db, { maxQueue: 1_000, batchSize: 100, counters });
      for (let i = 0; i < 1_500; i++) s.record(auditRecord({ time: at(i) }));
      expect(s.stats()).toMatchObject({ queued: 1_000, in_flight: 0, dropped: { queue_full: 500, write_failed: 0, invalid: 0 } });
      expect(counters.droppedTotal.queue_full).toBe(500);
      await s.flush();
      expect(await audit.countDocuments()).toBe(1_000);
      expect(s.stats()).toMatchObject({ queued: 0, in_flight: 0, written: 1_000 });
      expect(counters.writtenTotal).toBe(1_000);
      // The 1,000 oldest were kept (new records are the ones dropped).
      expect((await audit.find().sort({ time: -1 }).limit(1).toArray())[0]!.time).toEqual(at(999));

      // Many bursts while writes run: never more than maxQueue queued plus one batch in flight.
      let peak = 0;
      for (let burst = 0; burst < 10; burst++) {
        for (let i = 0; i < 2_000; i++) s.record(auditRecord());
        const st = s.stats();
        peak = Math.max(peak, st.queued + st.in_flight);
        await sleep(1);
      }
      expect(peak).toBeLessThanOrEqual(1_000 + 100);
      await s.flush();
      expectAccounted(s, 1_500 + 20_000);
      expect(await audit.countDocuments()).toBe(s.stats().written);
    } finally {
      await cleanup();
    }
  });

  it("writes a partial batch within the interval, a full batch at once, with unordered insertMany", async () => {
    const { audit, cleanup } = await freshDb();
    try {
      const calls: Array<{ n: number; ordered: unknown }> = [];
      const target = oneCollection({
        insertMany: ((docs: AuditDoc[], options?: { ordered?: boolean }) => {
          calls.push({ n: docs.length, ordered: options?.ordered });
          return audit.insertMany(docs, options);
        }) as Inserter["insertMany"],
      });
      const s = sink(target, { batchSize: 50, flushIntervalMs: 100 });
      for (let i = 0; i < 120; i++) s.record(auditRecord());
      await waitFor("two full batches", () => s.stats().written >= 100);
      expect(calls.slice(0, 2)).toEqual([
        { n: 50, ordered: false },
        { n: 50, ordered: false },
      ]);
      await waitFor("the partial batch", () => s.stats().written === 120);
      expect(calls[2]).toEqual({ n: 20, ordered: false });
      expect(await audit.countDocuments()).toBe(120);
    } finally {
      await cleanup();
    }
  });

  it("never has more than one insert in flight", async () => {
    const { audit, cleanup } = await freshDb();
    try {
      let inFlight = 0;
      let peak = 0;
      const target = oneCollection({
        insertMany: (async (docs: AuditDoc[], options?: object) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          await sleep(5);
          try {
            return await audit.insertMany(docs, options);
          } finally {
            inFlight--;
          }
        }) as Inserter["insertMany"],
      });
      const s = sink(target, { batchSize: 10, flushIntervalMs: 1 });
      const flushes: Array<Promise<void>> = [];
      for (let i = 0; i < 300; i++) {
        s.record(auditRecord());
        if (i % 25 === 0) flushes.push(s.flush());
        if (i % 50 === 0) await sleep(2);
      }
      flushes.push(s.flush());
      await Promise.all(flushes);
      await s.flush();
      expect(peak).toBe(1);
      expect(await audit.countDocuments()).toBe(300);
    } finally {
      await cleanup();
    }
  });

  it("(c) a short outage with room in the queue loses nothing; backs off meanwhile and warns once", async () => {
    const { audit, cleanup } = await freshDb();
    try {
      let failuresLeft = 4;
      const attempts: number[] = [];
      const target = oneCollection({
        insertMany: (async (docs: AuditDoc[], options?: object) => {
          attempts.push(Date.now());
          if (failuresLeft-- > 0) throw networkError();
          return audit.insertMany(docs, options);
        }) as Inserter["insertMany"],
      });
      const warn = vi.fn();
      const counters = new CountingCounters();
      const s = sink(target, { maxQueue: 1_000, batchSize: 100, flushIntervalMs: 20, maxBackoffMs: 150, counters, logger: { warn } });
      for (let i = 0; i < 250; i++) s.record(auditRecord({ time: at(i) }));
      await waitFor("a failing write", () => s.stats().failures >= 1);
      for (let i = 250; i < 400; i++) s.record(auditRecord({ time: at(i) })); // during the outage
      await waitFor("everything written", () => s.stats().written === 400);
      expect(s.stats()).toMatchObject({ queued: 0, in_flight: 0, failures: 0, interval_ms: 20, dropped: { queue_full: 0, write_failed: 0, invalid: 0 } });
      expect(counters.droppedTotal).toEqual({ queue_full: 0, write_failed: 0, invalid: 0 });
      expect(await audit.countDocuments()).toBe(400);
      // Oldest first after the outage too: the failed batch went back to the front.
      const times = (await audit.find().sort({ _id: 1 }).toArray()).map((d) => d.time.getTime());
      expect(new Set(times).size).toBe(400);
      // Backoff: 40, 80, 150 (capped) between the failing attempts.
      const gaps = attempts.slice(1, 5).map((t, i) => t - attempts[i]!);
      expect(gaps[1]!).toBeGreaterThanOrEqual(70);
      expect(gaps[2]!).toBeGreaterThanOrEqual(140);
      expect(gaps[3]!).toBeGreaterThanOrEqual(140);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(JSON.stringify(warn.mock.calls)).not.toContain("tok_"); // ids of records are not logged
    } finally {
      await cleanup();
    }
  });

  it("a batch whose acknowledgement was lost is retried without storing anything twice", async () => {
    const { audit, cleanup } = await freshDb();
    try {
      let lose = true;
      const target = oneCollection({
        insertMany: (async (docs: AuditDoc[], options?: object) => {
          if (lose) {
            lose = false;
            await audit.insertMany(docs.slice(0, 30), options); // part of it reaches the server,
            throw networkError(); // but the answer is lost
          }
          return audit.insertMany(docs, options);
        }) as Inserter["insertMany"],
      });
      const s = sink(target, { batchSize: 100, flushIntervalMs: 60_000 });
      for (let i = 0; i < 50; i++) s.record(auditRecord());
      await s.flush(); // fails: the batch goes back
      expect(s.stats()).toMatchObject({ queued: 50, failures: 1 });
      await s.flush(); // the first 30 are duplicates now
      expect(s.stats()).toMatchObject({ queued: 0, written: 50, failures: 0, dropped: { write_failed: 0 } });
      expect(await audit.countDocuments()).toBe(50);
    } finally {
      await cleanup();
    }
  });

  it("drops (and counts) documents the server refuses for good, keeping the rest", async () => {
    const { audit, cleanup } = await freshDb();
    try {
      const target = oneCollection({
        insertMany: (async (docs: AuditDoc[], options?: object) => {
          await audit.insertMany(docs.slice(1), options);
          throw Object.assign(new Error("document failed validation"), { name: "MongoBulkWriteError", writeErrors: [{ index: 0, code: 121 }] });
        }) as Inserter["insertMany"],
      });
      const counters = new CountingCounters();
      const warn = vi.fn();
      const s = sink(target, { counters, logger: { warn } });
      for (let i = 0; i < 10; i++) s.record(auditRecord());
      await s.flush();
      expect(s.stats()).toMatchObject({ queued: 0, written: 9, failures: 0, dropped: { write_failed: 1 } });
      expect(counters.droppedTotal.write_failed).toBe(1);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      await cleanup();
    }
  });

  it("when the queue is full, a failed batch is dropped and counted, and the accounting adds up", async () => {
    const pending: Array<() => void> = [];
    let calls = 0;
    let autoFail = false;
    const target = oneCollection({
      insertMany: (async () => {
        calls++;
        if (!autoFail) await new Promise<void>((r) => pending.push(r));
        throw networkError();
      }) as unknown as Inserter["insertMany"],
    });
    const releaseAll = () => pending.splice(0).forEach((r) => r());
    const counters = new CountingCounters();
    const s = sink(target, { maxQueue: 300, batchSize: 100, flushIntervalMs: 5, counters });
    for (let i = 0; i < 300; i++) s.record(auditRecord());
    await waitFor("a batch in flight", () => calls === 1);
    expect(s.stats()).toMatchObject({ queued: 200, in_flight: 100 });
    for (let i = 0; i < 150; i++) s.record(auditRecord()); // 100 fit, 50 dropped
    expect(s.stats()).toMatchObject({ queued: 300, in_flight: 100, dropped: { queue_full: 50 } });
    releaseAll();
    await waitFor("the failure", () => s.stats().failures === 1);
    expect(s.stats()).toMatchObject({ dropped: { queue_full: 50, write_failed: 100 } }); // no room: dropped
    expect(s.stats().queued + s.stats().in_flight).toBe(300);
    expectAccounted(s, 450);

    // Room for part of the next failed batch: its oldest part goes back to the front.
    await waitFor("the next batch in flight", () => calls === 2);
    expect(s.stats()).toMatchObject({ queued: 200, in_flight: 100 });
    for (let i = 0; i < 40; i++) s.record(auditRecord()); // 240 queued: room for 60 of the 100
    releaseAll();
    await waitFor("the second failure", () => s.stats().failures === 2);
    expect(s.stats()).toMatchObject({ dropped: { queue_full: 50, write_failed: 140 } });
    expect(s.stats().queued + s.stats().in_flight).toBe(300);
    expectAccounted(s, 490);
    expect(counters.droppedTotal).toEqual({ queue_full: 50, write_failed: 140, invalid: 0 });

    autoFail = true;
    releaseAll();
    await s.close();
    releaseAll();
    await waitFor("nothing in flight", () => s.stats().in_flight === 0);
    expect(s.stats()).toMatchObject({ queued: 0, written: 0 });
    expectAccounted(s, 490);
    expect(counters.droppedTotal.write_failed).toBe(490 - 50);
  });

  it("rejects bad options", () => {
    const target = oneCollection({ insertMany: vi.fn() } as unknown as Inserter);
    expect(() => new MongoAuditSink(target, { maxQueue: 0 })).toThrow(/maxQueue/);
    expect(() => new MongoAuditSink(target, { batchSize: 1.5 })).toThrow(/batchSize/);
    expect(() => new MongoAuditStore(client.db("x"), { retentionDays: -1 })).toThrow(/retentionDays/);
  });
});

describe("mongo audit: hourly partitions", () => {
  const HOUR = 3_600_000;

  it("a batch spanning hours lands in each hour's collection; queries page across partitions newest first", async () => {
    const { db, cleanup } = await freshDb();
    try {
      // 5 hours, 7 records each, some sharing a time: one batch spans them all.
      const records = Array.from({ length: 35 }, (_, i) => auditRecord({ time: at(Math.floor(i / 7) * HOUR + (i % 3) * 1_000), user_id: i % 2 ? "alice" : "bob" }));
      const s = sink(db, { batchSize: 1_000 });
      for (const r of records) s.record(r);
      await s.flush();
      expect(s.stats()).toMatchObject({ written: 35, queued: 0 });
      const partitions = await listAuditPartitions(db);
      expect(partitions).toHaveLength(5);
      for (const start of partitions) expect(await db.collection(auditPartitionCollection(start)).countDocuments()).toBe(7);

      const store = new MongoAuditStore(db, { now: () => at(DAY) });
      const expected = [...records].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.decision_id < b.decision_id ? 1 : -1)).map((r) => r.decision_id);
      for (const limit of [4, 7, 10]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.query({ limit, ...(cursor ? { cursor } : {}) });
          seen.push(...page.records.map((r) => r.decision_id));
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        expect(seen, `limit ${limit}`).toEqual(expected);
      }
      // since/until inside the range: only hours 1..3, bob only.
      const page = await store.query({ since: at(HOUR), until: at(3 * HOUR + 2_000), user_id: "bob", limit: 100 });
      const want = records.filter((r) => r.time >= at(HOUR) && r.time < at(3 * HOUR + 2_000) && r.user_id === "bob");
      expect(page.records.map((r) => r.decision_id).sort()).toEqual(want.map((r) => r.decision_id).sort());
      expect(page.next_cursor).toBeNull();
    } finally {
      await cleanup();
    }
  });

  it("a batch whose second hour fails puts back only that hour: nothing is written or counted twice", async () => {
    const { db, cleanup } = await freshDb();
    try {
      let failNext = true;
      const calls: string[] = [];
      const target: AuditInsertTarget = {
        collection: (name) => ({
          insertMany: (async (docs: AuditDoc[], options?: object) => {
            calls.push(name);
            if (name !== auditPartitionCollection(partitionOf(T0)) && failNext) {
              failNext = false;
              throw networkError();
            }
            return db.collection<AuditDoc>(name).insertMany(docs, options);
          }) as Inserter["insertMany"],
        }),
      };
      const counters = new CountingCounters();
      const s = sink(target, { batchSize: 100, flushIntervalMs: 60_000, counters });
      for (let i = 0; i < 10; i++) s.record(auditRecord({ time: at(i) }));
      for (let i = 0; i < 5; i++) s.record(auditRecord({ time: at(HOUR + i) }));
      await s.flush();
      expect(s.stats()).toMatchObject({ written: 10, queued: 5, failures: 1 });
      await s.flush();
      expect(s.stats()).toMatchObject({ written: 15, queued: 0, failures: 0, dropped: { queue_full: 0, write_failed: 0, invalid: 0 } });
      expect(counters.writtenTotal).toBe(15);
      expect(calls.filter((c) => c === auditPartitionCollection(partitionOf(T0)))).toHaveLength(1);
      expect(await rawAudit(db)).toHaveLength(15);
    } finally {
      await cleanup();
    }
  });

  it("prune drops the partitions older than the retention and cuts the one it crosses", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const s = sink(db, { batchSize: 1_000 });
      const old = Array.from({ length: 6 }, (_, i) => auditRecord({ time: at(-40 * DAY + i * HOUR) }));
      const edgeOld = auditRecord({ time: at(-30 * DAY - 1) });
      const edgeKept = auditRecord({ time: at(-30 * DAY + 1) });
      const fresh = auditRecord();
      for (const r of [...old, edgeOld, edgeKept, fresh]) s.record(r);
      await s.flush();
      const store = new MongoAuditStore(db, { now: () => T0 });
      expect(await listAuditPartitions(db)).toHaveLength(6 + 2); // edgeOld and edgeKept share an hour unless T0 is on the hour
      expect(await store.prune(T0)).toBe(7);
      expect((await listAuditPartitions(db)).map(auditPartitionCollection).sort()).toEqual([partitionOf(edgeKept.time), partitionOf(fresh.time)].map(auditPartitionCollection).sort());
      expect((await rawAudit(db)).map((d) => d._id).sort()).toEqual([edgeKept.decision_id, fresh.decision_id].sort());
      expect(await store.prune(T0)).toBe(0);
    } finally {
      await cleanup();
    }
  });

  it("migrates the legacy single collection: records within the retention stay queryable, the rest is dropped with it", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const legacy = db.collection<AuditDoc>(LEGACY_AUDIT_COLLECTION);
      const kept = Array.from({ length: 1_200 }, (_, i) => auditRecord({ time: at(-i * 60_000) }));
      const expired = Array.from({ length: 5 }, (_, i) => auditRecord({ time: at(-31 * DAY - i) }));
      // As an older release stored them: no policy_revision or user_agent field.
      const docs = [...kept, ...expired].map((r) => {
        const { policy_revision: _p, user_agent: _u, ...doc } = toAuditDoc(r);
        return doc as AuditDoc;
      });
      await legacy.insertMany(docs);
      // An interrupted earlier run had copied a few already.
      await db.collection<AuditDoc>(auditPartitionCollection(partitionOf(kept[0]!.time))).insertOne(toAuditDoc(kept[0]!));

      const store = new MongoAuditStore(db, { now: () => T0 });
      expect(await store.prune(T0)).toBe(5);
      expect((await db.listCollections({ name: LEGACY_AUDIT_COLLECTION }).toArray()).length).toBe(0);
      const seen: AuditRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.query({ limit: 1_000, ...(cursor ? { cursor } : {}) });
        seen.push(...page.records);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(seen.map((r) => r.decision_id)).toEqual(kept.map((r) => r.decision_id));
      expect(seen[1]).toEqual({ ...kept[1], policy_revision: null, user_agent: null });
      expect(await store.prune(T0)).toBe(0);
    } finally {
      await cleanup();
    }
  });
});
