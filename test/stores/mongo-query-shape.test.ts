// The reads on a decision's path must be point reads on FerretDB too. FerretDB 1.x hands SQLite
// only a filter that is exactly `{_id: <string or ObjectId>}`; any other filter (`{hash}`, `{id}`,
// two fields, `$in`) is answered by decoding every document of the collection in FerretDB, which
// grows with the collection (the revoke lag of `make bench-replicas`, docs/benchmarks.md). These
// tests record the commands a store sends and ask the server to explain each one: FerretDB says
// whether it pushed the filter down (`filterPushdown`), MongoDB whether it scanned (`COLLSCAN`).
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoClient, ObjectId, type CommandStartedEvent, type Db, type Document } from "mongodb";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends } from "../../src/server/backends.js";
import { COLLECTIONS, ensureIndexes } from "../../src/stores/mongo/schema.js";
import { backfillTokenHashes } from "../../src/stores/mongo/token-hashes.js";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { at, globalToken } from "../support/fixtures.js";
import { startMongo, type MongoServer } from "../support/servers.js";

let server: MongoServer;
let client: MongoClient;
const started: CommandStartedEvent[] = [];
let counter = 0;

beforeAll(async () => {
  server = await startMongo();
  client = new MongoClient(server.uri, { monitorCommands: true });
  client.on("commandStarted", (e) => started.push(e));
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

async function freshDb(): Promise<Db> {
  const db = client.db(`${server.dbName}_shape_${++counter}`);
  await ensureIndexes(db);
  return db;
}

/**
 * The reads `op` sent (find, count, findAndModify), each with whether the server answers it without
 * a scan. A find is explained by the server. FerretDB's explain covers only find, so a count or
 * findAndModify is judged by its filter's shape: exactly `{_id: <string or ObjectId>}`, the one
 * FerretDB 1.24 pushes down for every command (its handlers pass the filter to the same backend
 * query as find's).
 */
async function readsOf(db: Db, op: () => Promise<unknown>): Promise<Array<{ collection: string; filter: Document; pointRead: boolean }>> {
  started.length = 0;
  await op();
  const commands = started.filter((e) => ["find", "count", "findAndModify"].includes(e.commandName) && e.databaseName === db.databaseName).map((e) => e.command);
  expect(commands.length, "reads recorded").toBeGreaterThan(0);
  return Promise.all(
    commands.map(async (cmd) => {
      if (cmd.find === undefined) {
        const filter = (cmd.query ?? {}) as Document;
        const keys = Object.keys(filter);
        const id: unknown = filter._id;
        const pointRead = keys.length === 1 && keys[0] === "_id" && (typeof id === "string" || id instanceof ObjectId);
        return { collection: String(cmd.count ?? cmd.findAndModify), filter, pointRead };
      }
      const explained = await db.command({ explain: { find: cmd.find, filter: cmd.filter, ...(cmd.limit ? { limit: cmd.limit } : {}) } });
      const pointRead =
        "filterPushdown" in explained
          ? explained.filterPushdown === true // FerretDB
          : !JSON.stringify(explained.queryPlanner?.winningPlan ?? {}).includes("COLLSCAN"); // MongoDB
      return { collection: String(cmd.find), filter: cmd.filter as Document, pointRead };
    }),
  );
}

const scans = (reads: Array<{ pointRead: boolean }>) => reads.filter((r) => !r.pointRead);

describe("mongo token lookups by hash are point reads", () => {
  it("finding a token by its hash (valid, revoked, used) reads only by _id", async () => {
    const db = await freshDb();
    const store = new MongoTokenStore(db);
    const r = globalToken();
    await store.create(r);
    const others = [globalToken(), globalToken(), globalToken()];
    for (const token of others) await store.create(token);
    await store.touch(r.id, at(5));
    await store.revoke(others[0]!.id, at(7)); // FerretDB explains a collection that does not exist yet as a scan

    const valid = await readsOf(db, () => store.findByHash(r.hash));
    expect(scans(valid)).toEqual([]);

    await store.revoke(r.id, at(9));
    const revoked = await readsOf(db, async () => expect((await store.findByHash(r.hash))?.revoked_at).toEqual(at(9)));
    expect(scans(revoked)).toEqual([]);
  });

  // The admin's revoke reads the token by id on the replica that makes the change; at ~1,000
  // tokens and a loaded machine a read by `id` outlasted TOLLGATE_MONGODB_TIMEOUT_MS (503).
  it("reading, revoking and updating a token by its id reads only by _id", async () => {
    const db = await freshDb();
    const store = new MongoTokenStore(db);
    const r = globalToken();
    await store.create(r);
    await store.create(globalToken());
    await store.touch(r.id, at(5));
    await store.revoke(r.id, at(7));
    expect(scans(await readsOf(db, () => store.get(r.id)))).toEqual([]);
    expect(scans(await readsOf(db, () => store.revoke(r.id, at(8))))).toEqual([]);
    expect(scans(await readsOf(db, () => store.update(r.id, { name: "renamed" })))).toEqual([]);
    expect((await store.get(r.id))?.name).toBe("renamed");
  });

  it("finds tokens written before the hash index existed, and reads them by _id once backfilled", async () => {
    const db = await freshDb();
    const store = new MongoTokenStore(db);
    const legacy = [globalToken(), globalToken({ last_used_at: at(3) }), globalToken()];
    // As an older release wrote them: only the token document.
    await db.collection(COLLECTIONS.tokens).insertMany(legacy.map((t) => ({ ...t, scopes: [...t.scopes], grants: [...t.grants] })));
    expect((await store.findByHash(legacy[0]!.hash))?.id).toBe(legacy[0]!.id);
    await store.touch(legacy[0]!.id, at(1));
    expect(await store.revoke(legacy[2]!.id, at(2))).toBe(true);
    expect((await store.update(legacy[2]!.id, { name: "renamed" }))?.name).toBe("renamed");
    expect(await store.get(legacy[2]!.id)).toMatchObject({ name: "renamed", revoked_at: at(2) });

    const logged: string[] = [];
    const logger = { info: (_: object, msg: string) => void logged.push(msg) };
    // Several replicas starting at once, then a restart: every run succeeds, nothing is doubled.
    await Promise.all([backfillTokenHashes(db, logger), backfillTokenHashes(db, logger), backfillTokenHashes(db, logger)]);
    await backfillTokenHashes(db, logger);
    expect(await db.collection(COLLECTIONS.tokenHashes).countDocuments()).toBe(legacy.length);
    expect(logged.some((m) => /token/.test(m))).toBe(true);

    for (const t of legacy) {
      const reads = await readsOf(db, async () => expect((await store.findByHash(t.hash))?.id).toBe(t.id));
      expect(scans(reads)).toEqual([]);
    }
    expect((await store.findByHash(legacy[1]!.hash))?.last_used_at).toEqual(at(3));
  });
});

describe("a replica's start", () => {
  it("indexes the tokens of an older release by hash, in the background", async () => {
    const db = client.db(`${server.dbName}_shape_${++counter}`);
    const legacy = [globalToken(), globalToken()];
    await db.collection(COLLECTIONS.tokens).insertMany(legacy.map((t) => ({ ...t, scopes: [...t.scopes], grants: [...t.grants] })));
    const lines: string[] = [];
    const logger = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) }));
    const backends = connectBackends(loadConfig({ TOLLGATE_DEMO: "false", MONGODB_URI: server.uri, MONGODB_DB: db.databaseName }), logger);
    try {
      let ready = false;
      for (const deadline = Date.now() + 30_000; !ready && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        ready = await backends.readiness.mongodb!.probe().then(() => true, () => false);
      }
      expect(ready).toBe(true);
      let indexed = 0;
      for (const deadline = Date.now() + 30_000; indexed < legacy.length && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        indexed = await db.collection(COLLECTIONS.tokenHashes).countDocuments();
      }
      expect(indexed).toBe(legacy.length);
      expect(lines.some((l) => l.includes("token_hashes: indexing tokens by hash"))).toBe(true);
      expect((await backends.tokens.findByHash(legacy[1]!.hash))?.id).toBe(legacy[1]!.id);
    } finally {
      await backends.close();
    }
  }, 60_000);
});
