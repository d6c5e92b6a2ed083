// The upstream token store contract on FerretDB (or MONGODB_URI), and what only MongoDB has: the
// tokens sealed at rest, bound to their user and upstream.
import { randomBytes } from "node:crypto";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoUpstreamTokenStore } from "../../src/stores/mongo/upstream-token-store.js";
import { COLLECTIONS, ensureIndexes } from "../../src/stores/mongo/schema.js";
import { AesGcmSecretCipher, SecretDecryptionError } from "../../src/upstreams/encryption.js";
import { startMongo, type MongoServer } from "../support/servers.js";
import { describeUpstreamTokenStoreContract, upstreamTokens } from "./user-tokens.contract.js";

let server: MongoServer;
let mongo: MongoClient;
let counter = 0;
const cipher = new AesGcmSecretCipher([{ kid: "k1", key: randomBytes(32) }]);

beforeAll(async () => {
  server = await startMongo();
  mongo = new MongoClient(server.uri);
  await mongo.connect();
});

afterAll(async () => {
  await mongo?.close();
  await server?.stop();
});

async function freshDb(): Promise<Db> {
  const db = mongo.db(`${server.dbName}_${++counter}`);
  await ensureIndexes(db);
  return db;
}

describeUpstreamTokenStoreContract("mongo", async () => {
  const db = await freshDb();
  return { store: new MongoUpstreamTokenStore(db, cipher), cleanup: async () => void (await db.dropDatabase()) };
});

describe("upstream tokens in MongoDB", () => {
  it("holds no token in clear, and a document moved to another user does not open", async () => {
    const db = await freshDb();
    const store = new MongoUpstreamTokenStore(db, cipher);
    await store.put("bob", "wiki", upstreamTokens("bob", "wiki", { accessToken: "clear-access-token", refreshToken: "clear-refresh-token" }));
    const docs = await db.collection(COLLECTIONS.upstreamTokens).find().toArray();
    expect(docs).toHaveLength(1);
    const raw = JSON.stringify(docs);
    expect(raw).not.toContain("clear-access-token");
    expect(raw).not.toContain("clear-refresh-token");
    expect(docs[0]).toMatchObject({ user_id: "bob", upstream: "wiki", client_id: "client-wiki", access_token: expect.stringMatching(/^v1\.k1\./), refresh_token: expect.stringMatching(/^v1\.k1\./) });

    // Someone with write access to the database gives bob's tokens to mallory: they do not open.
    await db.collection(COLLECTIONS.upstreamTokens).insertOne({ ...docs[0]!, _id: JSON.stringify(["mallory", "wiki"]) as never, user_id: "mallory" });
    await expect(store.get("mallory", "wiki")).rejects.toBeInstanceOf(SecretDecryptionError);
    await expect(store.listByUser("mallory")).rejects.toBeInstanceOf(SecretDecryptionError);
    // And under another key they do not open at all.
    await expect(new MongoUpstreamTokenStore(db, new AesGcmSecretCipher([{ kid: "k2", key: randomBytes(32) }])).get("bob", "wiki")).rejects.toThrow(/key "k1"/);
    await db.dropDatabase();
  });

  it("binds the tokens to the issuer and token endpoint they were stored with; older documents without one still open, without it", async () => {
    const db = await freshDb();
    const store = new MongoUpstreamTokenStore(db, cipher);
    await store.put("bob", "wiki", upstreamTokens("bob", "wiki"));
    const docs = db.collection(COLLECTIONS.upstreamTokens);
    expect(await docs.findOne({ user_id: "bob" })).toMatchObject({ issuer: "https://as.example.com", token_endpoint: "https://as.example.com/token" });
    // Pointed at another server in the database: the tokens do not open (they would be sent there).
    await docs.updateOne({ user_id: "bob" }, { $set: { token_endpoint: "https://evil.example/token" } });
    await expect(store.get("bob", "wiki")).rejects.toBeInstanceOf(SecretDecryptionError);
    await docs.updateOne({ user_id: "bob" }, { $unset: { issuer: "", token_endpoint: "" } });
    await expect(store.get("bob", "wiki")).rejects.toBeInstanceOf(SecretDecryptionError);
    // A document written before the issuer was recorded.
    const { issuer: _i, tokenEndpoint: _t, ...legacy } = upstreamTokens("carol", "wiki");
    await store.put("carol", "wiki", legacy);
    await docs.updateOne({ user_id: "carol" }, { $unset: { issuer: "", token_endpoint: "" } });
    expect(await store.get("carol", "wiki")).toStrictEqual(legacy);
    await db.dropDatabase();
  });

  it("opens a document written before connected_at was recorded, without connectedAt", async () => {
    const db = await freshDb();
    const store = new MongoUpstreamTokenStore(db, cipher);
    await store.put("bob", "wiki", upstreamTokens("bob", "wiki"));
    await db.collection(COLLECTIONS.upstreamTokens).updateOne({ user_id: "bob" }, { $unset: { connected_at: "" } });
    const { connectedAt: _, ...older } = upstreamTokens("bob", "wiki");
    expect(await store.get("bob", "wiki")).toStrictEqual(older);
    await db.dropDatabase();
  });
});
