// The audit trail at 100,000 records on FerretDB (or MONGODB_URI), read and pruned through a client
// with the server's own fail-fast options (5 s socket timeout): what answered 503 and failed to
// prune at ~30k records in one collection. No clock is asserted: the suite's timeouts bound it.
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAuditPartitions } from "../../src/audit/mongo/schema.js";
import { MongoAuditSink } from "../../src/audit/mongo/sink.js";
import { MongoAuditStore } from "../../src/audit/mongo/store.js";
import type { AuditRecord } from "../../src/audit/types.js";
import { failFastMongoOptions } from "../../src/stores/mongo/client.js";
import { startMongo, type MongoServer } from "../support/servers.js";
import { DAY, at, auditRecord } from "./fixtures.js";

const RECORDS = 100_000;
const DAYS = 5;
const RETENTION_DAYS = 3;
/** The store's clock: the end of the fifth day, so the first two days are past the retention. */
const NOW = at(DAYS * DAY);
const USERS = ["alice", "bob", "carol", "dave"];

let server: MongoServer;
/** Writes through the sink with the driver's defaults (a big insert may take a while on a loaded machine). */
let writer: MongoClient;
/** Reads and prunes as the server does. */
let reader: MongoClient;
let db: Db;
let store: MongoAuditStore;
/** Records older than the retention at NOW. */
let expired = 0;

/** Record i of RECORDS, spread evenly over DAYS days (a few ms apart, some sharing a time). */
function recordAt(i: number): AuditRecord {
  const time = at(Math.floor((i * DAYS * DAY) / RECORDS));
  return auditRecord({ time, user_id: USERS[i % USERS.length]!, allow: i % 10 !== 0, status: i % 10 !== 0 ? 200 : 403 });
}

beforeAll(async () => {
  server = await startMongo();
  writer = new MongoClient(server.uri);
  reader = new MongoClient(server.uri, { ...failFastMongoOptions });
  await Promise.all([writer.connect(), reader.connect()]);
  // Through the sink as the server writes them, in big batches: bulk, and filed by partition.
  const sink = new MongoAuditSink(writer.db(server.dbName), { maxQueue: 20_000, batchSize: 5_000, flushIntervalMs: 60_000 });
  const cutoff = NOW.getTime() - RETENTION_DAYS * DAY;
  for (let i = 0; i < RECORDS; i++) {
    const r = recordAt(i);
    if (r.time.getTime() < cutoff) expired++;
    sink.record(r);
    if ((i + 1) % 20_000 === 0) await sink.flush();
  }
  await sink.close();
  expect(sink.stats()).toMatchObject({ written: RECORDS, queued: 0, dropped: { queue_full: 0, write_failed: 0, invalid: 0 } });
  db = reader.db(server.dbName);
  store = new MongoAuditStore(db, { retentionDays: RETENTION_DAYS, now: () => NOW });
});

afterAll(async () => {
  await writer?.close();
  await reader?.close();
  await server?.stop();
});

describe("mongo audit at 100,000 records over five days", () => {
  it("the newest page, a filtered page and the next page answer (no BackendUnavailableError)", async () => {
    const first = await store.query({ limit: 100 });
    expect(first.records).toHaveLength(100);
    expect(first.records[0]!.time).toEqual(recordAt(RECORDS - 1).time);
    const second = await store.query({ limit: 100, cursor: first.next_cursor! });
    expect(second.records).toHaveLength(100);
    expect(second.records[0]!.time.getTime()).toBeLessThanOrEqual(first.records[99]!.time.getTime());

    const denied = await store.query({ allow: false, user_id: "carol", limit: 50 });
    expect(denied.records).toHaveLength(50);
    for (const r of denied.records) expect(r).toMatchObject({ allow: false, user_id: "carol" });

    // A window in the middle of the third day reads only its hours.
    const since = at(2 * DAY + 6 * 3_600_000);
    const until = at(2 * DAY + 8 * 3_600_000);
    const window = await store.query({ since, until, limit: 1_000 });
    expect(window.records.length).toBeGreaterThan(0);
    for (const r of window.records) expect(r.time >= since && r.time < until).toBe(true);
  });

  it("prune drops what is past the retention, and the trail keeps answering", async () => {
    const before = (await listAuditPartitions(db)).length;
    expect(await store.prune(NOW)).toBe(expired);
    expect((await listAuditPartitions(db)).length).toBeLessThan(before);
    expect(await store.prune(NOW)).toBe(0);
    // Every record of the oldest retained hour is still there, none older.
    const oldest = (await listAuditPartitions(db)).at(-1)!;
    expect(oldest).toBeGreaterThanOrEqual(NOW.getTime() - RETENTION_DAYS * DAY - 3_600_000);
    const page = await store.query({ user_id: "dave", limit: 1_000 });
    expect(page.records).toHaveLength(1_000);
  });
});
