// The OAuth store contract: memory, and a real FerretDB (or MONGODB_URI) with two connections
// standing for two replicas.
import { afterAll, beforeAll } from "vitest";
import { MongoClient } from "mongodb";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { MongoOAuthStore } from "../../src/stores/mongo/oauth-store.js";
import { ensureIndexes } from "../../src/stores/mongo/schema.js";
import { startMongo, type MongoServer } from "../support/servers.js";
import { describeOAuthStoreContract } from "./oauth-store.contract.js";

let server: MongoServer;
let clients: MongoClient[] = [];
let counter = 0;

beforeAll(async () => {
  server = await startMongo();
  clients = [new MongoClient(server.uri), new MongoClient(server.uri)];
  await Promise.all(clients.map((c) => c.connect()));
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server?.stop();
});

describeOAuthStoreContract("memory", async () => ({ store: new MemoryOAuthStore() }));

describeOAuthStoreContract("mongo", async () => {
  const name = `${server.dbName}_${++counter}`;
  const db = clients[0]!.db(name);
  await ensureIndexes(db);
  const store = Object.assign(new MongoOAuthStore(db), { second: new MongoOAuthStore(clients[1]!.db(name)) });
  return { store, cleanup: async () => void (await db.dropDatabase()) };
});
