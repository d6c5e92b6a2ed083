// Contract suites against a real FerretDB (or MONGODB_URI): one server for the file, a fresh
// database per test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoClient, type Db } from "mongodb";
import { failFastMongoOptions } from "../../src/stores/mongo/client.js";
import { MongoDirectoryStore } from "../../src/stores/mongo/directory-store.js";
import { COLLECTIONS, ensureIndexes } from "../../src/stores/mongo/schema.js";
import { MongoTempTokenStore } from "../../src/stores/mongo/temp-token-store.js";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { BackendUnavailableError, DuplicateError } from "../../src/stores/types.js";
import { CLOSED_PORT, canStartFerretDb, startFerretDb, startMongo, type MongoServer } from "../support/servers.js";
import { at, globalToken } from "../support/fixtures.js";
import { generateToken } from "../../src/tokens/format.js";
import { describeDirectoryStoreContract } from "./directory-store.contract.js";
import { describeTempTokenStoreContract } from "./temp-token-store.contract.js";
import { describeTokenStoreContract } from "./token-store.contract.js";
import { CachedFacts } from "../../src/facts/cached-facts.js";

let server: MongoServer;
let client: MongoClient;
let counter = 0;

beforeAll(async () => {
  server = await startMongo();
  // The driver's default timeouts: a loaded machine may answer slowly (fail-fast clients are tested below).
  client = new MongoClient(server.uri);
  await client.connect();
});

afterAll(async () => {
  await prepared?.then((db) => db.dropDatabase()).catch(() => {});
  await client?.close();
  await server?.stop();
});

let prepared: Promise<Db> | undefined;

function prepareDb(): Promise<Db> {
  const db = client.db(`${server.dbName}_${++counter}`);
  const ready = ensureIndexes(db).then(() => db);
  ready.catch(() => {}); // a failure surfaces when a test takes this database
  return ready;
}

/** A fresh database with indexes; the next one is prepared while the current test runs. */
async function freshDb(): Promise<{ db: Db; cleanup: () => Promise<void> }> {
  const current = prepared ?? prepareDb();
  prepared = prepareDb();
  const db = await current;
  return { db, cleanup: async () => void (await db.dropDatabase()) };
}

describeTokenStoreContract("mongo", async () => {
  const { db, cleanup } = await freshDb();
  return { store: new MongoTokenStore(db), cleanup };
});
describeDirectoryStoreContract("mongo", async () => {
  const { db, cleanup } = await freshDb();
  return { store: new MongoDirectoryStore(db), cleanup };
});
// The write-through cache decorators in front of MongoDB keep every store promise too.
describeTokenStoreContract("mongo, cached", async () => {
  const { db, cleanup } = await freshDb();
  return { store: new CachedFacts(new MongoTokenStore(db), new MongoDirectoryStore(db), { ttlMs: 600_000 }).tokenStore, cleanup };
});
describeDirectoryStoreContract("mongo, cached", async () => {
  const { db, cleanup } = await freshDb();
  return { store: new CachedFacts(new MongoTokenStore(db), new MongoDirectoryStore(db), { ttlMs: 600_000 }).directoryStore, cleanup };
});
describeTempTokenStoreContract("mongo", async () => {
  const { db, cleanup } = await freshDb();
  return { store: new MongoTempTokenStore(db), cleanup };
});

describe("mongo specifics", () => {
  it("ensureIndexes is idempotent and reports the TTL index", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const again = await ensureIndexes(db);
      expect(typeof again.ttl).toBe("boolean");
      if (!process.env.MONGODB_URI) expect(again.ttl).toBe(false); // FerretDB 1.x: no TTL indexes
      const names = (await db.collection(COLLECTIONS.tokens).listIndexes().toArray()).map((i) => i.name);
      expect(names).toEqual(expect.arrayContaining(["id_unique", "hash_unique", "user_created"]));
    } finally {
      await cleanup();
    }
  });

  it("persists the documented shape: no token value, BSON dates, no domain _id leak", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const r = globalToken();
      await store.create(r);
      const doc = await db.collection(COLLECTIONS.tokens).findOne({ id: r.id });
      expect(doc?.hash).toBe(r.hash);
      expect(doc?.created_at).toBeInstanceOf(Date);
      expect(Object.keys((await store.get(r.id))!)).not.toContain("_id");
    } finally {
      await cleanup();
    }
  });

  // FerretDB 1.x runs an update as read, modify, write back the whole document, with no lock
  // between: two updates of one document at once lose one of them. touch() runs on the decision
  // path of every replica; if it rewrote the token document, a revoke made at the same moment
  // could be written over (measured: 90 of 200 such pairs lost the revoke) and the revoked token
  // would be allowed again everywhere. Root cause of the bench-replicas "revoked but allowed" outlier.
  it("a revoke racing touches of the same token is never lost", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const lost: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = globalToken();
        await store.create(r);
        await Promise.all([store.touch(r.id, at(i)), store.revoke(r.id, at(1_000)), store.touch(r.id, at(i + 1))]);
        const after = (await store.get(r.id))!;
        if (after.revoked_at === null) lost.push(r.id);
        expect(after.last_used_at).not.toBeNull();
      }
      expect(lost).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it("a revoke racing an admin update of the same token is never lost", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const lost: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = globalToken();
        await store.create(r);
        await Promise.all([store.update(r.id, { name: `renamed ${i}` }), store.revoke(r.id, at(1_000))]);
        if ((await store.get(r.id))!.revoked_at === null) lost.push(r.id);
      }
      expect(lost).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it("touch never rewrites the token document (last use is kept apart from the decision facts)", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const r = globalToken();
      await store.create(r);
      const before = await db.collection(COLLECTIONS.tokens).findOne({ id: r.id });
      await store.touch(r.id, at(5));
      await store.touch(r.id, at(9));
      expect(await db.collection(COLLECTIONS.tokens).findOne({ id: r.id })).toEqual(before);
      expect((await store.get(r.id))!.last_used_at).toEqual(at(9));
      expect((await store.findByHash(r.hash))!.last_used_at).toEqual(at(9));
      expect((await store.listByUser(r.user_id!))[0]!.last_used_at).toEqual(at(9));
    } finally {
      await cleanup();
    }
  });

  it("reads last use written by an older version into the token document", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const r = globalToken({ last_used_at: at(7) });
      await store.create(r);
      expect((await store.get(r.id))!.last_used_at).toEqual(at(7));
      await store.touch(r.id, at(3));
      expect((await store.get(r.id))!.last_used_at).toEqual(at(7));
      await store.touch(r.id, at(11));
      expect((await store.get(r.id))!.last_used_at).toEqual(at(11));
    } finally {
      await cleanup();
    }
  });

  it("a create refused for a duplicate id leaves no token_hashes entry behind: its hash can still be issued", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTokenStore(db);
      const first = globalToken();
      await store.create(first);
      const refused = globalToken({ id: first.id });
      await expect(store.create(refused)).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.findByHash(refused.hash)).toBeNull();
      expect(await db.collection(COLLECTIONS.tokenHashes).countDocuments({ _id: refused.hash } as object)).toBe(0);
      const retried = globalToken({ hash: refused.hash });
      await store.create(retried);
      expect((await store.findByHash(refused.hash))?.id).toBe(retried.id);
    } finally {
      await cleanup();
    }
  });

  it("rejects duplicates through the unique indexes", async () => {
    const { db, cleanup } = await freshDb();
    try {
      const store = new MongoTempTokenStore(db);
      const h = generateToken("temp").hash;
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => store.create({ hash: h, user_id: "alice", expires_at: at(60_000) }, { now: at(0), maxLive: 5 })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(DuplicateError);
    } finally {
      await cleanup();
    }
  });
});

describe("mongo backend down", () => {
  // Needs a server it may stop: its own FerretDB, also when MONGODB_URI points elsewhere.
  it.skipIf(Boolean(process.env.MONGODB_URI) && !canStartFerretDb())("rejects every store call with BackendUnavailableError within a few seconds of the server stopping", async () => {
    const own = await startFerretDb();
    const c = new MongoClient(own.uri, { ...failFastMongoOptions });
    try {
      const db = c.db();
      await ensureIndexes(db);
      const tokens = new MongoTokenStore(db);
      const directory = new MongoDirectoryStore(db);
      const temp = new MongoTempTokenStore(db);
      const r = globalToken();
      await tokens.create(r);
      await directory.putProject({ id: "p", name: "P", public: false });
      expect(await tokens.get(r.id)).not.toBeNull();

      await own.stop();
      const started = Date.now();
      const calls: Array<[string, Promise<unknown>]> = [
        ["tokens.create", tokens.create(globalToken())],
        ["tokens.findByHash", tokens.findByHash(r.hash)],
        ["tokens.get", tokens.get(r.id)],
        ["tokens.listByUser", tokens.listByUser("alice")],
        ["tokens.update", tokens.update(r.id, { name: "x" })],
        ["tokens.revoke", tokens.revoke(r.id, at(1))],
        ["tokens.touch", tokens.touch(r.id, at(1))],
        ["directory.getUser", directory.getUser("alice")],
        ["directory.putUser", directory.putUser({ id: "alice", system_role: "user" })],
        ["directory.getProject", directory.getProject("p")],
        ["directory.putProject", directory.putProject({ id: "p", name: "P", public: true })],
        ["directory.getCollaboratorRole", directory.getCollaboratorRole("p", "alice")],
        ["directory.setCollaborator", directory.setCollaborator("p", "alice", "Owner")],
        ["directory.removeCollaborator", directory.removeCollaborator("p", "alice")],
        ["directory.listProjectsOf", directory.listProjectsOf("alice")],
        ["temp.create", temp.create({ hash: generateToken("temp").hash, user_id: "alice", expires_at: at(1) }, { now: at(0), maxLive: 5 })],
        ["temp.peek", temp.peek(generateToken("temp").hash, at(0))],
        ["temp.consume", temp.consume(generateToken("temp").hash, at(0))],
        ["temp.prune", temp.prune(at(0))],
        ["ensureIndexes", ensureIndexes(db)],
      ];
      const settled = await Promise.allSettled(calls.map(([, p]) => p));
      const elapsed = Date.now() - started;
      settled.forEach((s, i) => {
        const label = calls[i]![0];
        expect(s.status, label).toBe("rejected");
        if (s.status === "rejected") {
          expect(s.reason, label).toBeInstanceOf(BackendUnavailableError);
          expect((s.reason as BackendUnavailableError).code).toBe("backend_unavailable");
          expect((s.reason as BackendUnavailableError).backend).toBe("mongodb");
        }
      });
      // Fail-fast options (2 s); the driver's default would wait 30 s. Generous: a loaded machine is slow.
      expect(elapsed).toBeLessThan(15_000);
    } finally {
      await c.close().catch(() => {});
      await own.stop();
    }
  });

  it("rejects with BackendUnavailableError when the server was never reachable", async () => {
    const c = new MongoClient(`mongodb://127.0.0.1:${CLOSED_PORT}/x`, { ...failFastMongoOptions });
    try {
      const started = Date.now();
      const err = await new MongoDirectoryStore(c.db()).getUser("alice").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect(Date.now() - started).toBeLessThan(15_000); // not the driver's default 30 s
    } finally {
      await c.close().catch(() => {});
    }
  });
});
