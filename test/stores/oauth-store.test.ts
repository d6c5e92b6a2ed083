// The OAuth store contract: memory, a real FerretDB (or MONGODB_URI), a redis-server and a
// three-master Redis Cluster, each real backend through two connections standing for two
// replicas. Then what only Redis has: the keys' own expiry, and one slot per multi-key step.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoClient } from "mongodb";
import { Cluster, Redis } from "ioredis";
import calculateSlot from "cluster-key-slot";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { MongoOAuthStore } from "../../src/stores/mongo/oauth-store.js";
import { ensureIndexes } from "../../src/stores/mongo/schema.js";
import { REDIS_EXPIRY_SLACK_MS } from "../../src/stores/redis/client.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { RedisOAuthStore } from "../../src/stores/redis/oauth-store.js";
import { startMongo, startRedis, startRedisCluster, type MongoServer, type RedisClusterServer, type RedisServer } from "../support/servers.js";
import { at } from "../support/fixtures.js";
import { describeOAuthStoreContract, entry } from "./oauth-store.contract.js";

let server: MongoServer;
let redisServer: RedisServer;
let cluster: RedisClusterServer;
let clients: MongoClient[] = [];
let redis: Redis[] = [];
let clusterClients: Cluster[] = [];
let counter = 0;

beforeAll(async () => {
  [server, redisServer, cluster] = await Promise.all([startMongo(), startRedis(), startRedisCluster()]);
  clients = [new MongoClient(server.uri), new MongoClient(server.uri)];
  await Promise.all(clients.map((c) => c.connect()));
  redis = [new Redis(redisServer.url), new Redis(redisServer.url)];
  clusterClients = [new Cluster(cluster.nodes), new Cluster(cluster.nodes)];
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  for (const c of [...redis, ...clusterClients]) c.disconnect();
  await Promise.allSettled([server?.stop(), redisServer?.stop(), cluster?.stop()]);
});

/** Every key under `namespace`, from every master of a cluster or from the one server. */
async function keysUnder(client: Redis | Cluster, namespace: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes("master") : [client];
  return (await Promise.all(nodes.map((node) => node.keys(`${namespace}:*`)))).flat();
}

/** One DEL per key: a multi-key DEL across slots is refused (CROSSSLOT). */
async function deleteUnder(client: Redis | Cluster, namespace: string): Promise<void> {
  await Promise.all((await keysUnder(client, namespace)).map((key) => client.del(key)));
}

describeOAuthStoreContract("memory", async () => ({ store: new MemoryOAuthStore() }));

describeOAuthStoreContract("mongo", async () => {
  const name = `${server.dbName}_${++counter}`;
  const db = clients[0]!.db(name);
  await ensureIndexes(db);
  const store = Object.assign(new MongoOAuthStore(db), { second: new MongoOAuthStore(clients[1]!.db(name)) });
  return { store, cleanup: async () => void (await db.dropDatabase()) };
});

describeOAuthStoreContract("redis", async () => {
  const namespace = `oauth${++counter}`;
  const store = Object.assign(new RedisOAuthStore(redis[0]!, { namespace }), { second: new RedisOAuthStore(redis[1]!, { namespace }), expiresItself: true });
  return { store, cleanup: () => deleteUnder(redis[0]!, namespace) };
});

describeOAuthStoreContract("redis cluster", async () => {
  const namespace = `coauth${++counter}`;
  const store = Object.assign(new RedisOAuthStore(clusterClients[0]!, { namespace }), { second: new RedisOAuthStore(clusterClients[1]!, { namespace }), expiresItself: true });
  return { store, cleanup: () => deleteUnder(clusterClients[0]!, namespace) };
});

describe("RedisOAuthStore: what only Redis has", () => {
  it("an entry and its consumption expire in Redis an hour after expires_at; an entry without one never does", async () => {
    const namespace = `expiry${++counter}`;
    const store = new RedisOAuthStore(redis[0]!, { namespace });
    const keys = redisKeys(namespace);
    const code = entry();
    await store.upsert(code);
    expect(await store.consume(code.model, code.id, at(1))).toBe(true);
    const expected = code.expires_at!.getTime() + REDIS_EXPIRY_SLACK_MS;
    expect(await redis[0]!.pexpiretime(keys.oauthEntry(code.model, code.id))).toBe(expected);
    expect(await redis[0]!.pexpiretime(keys.oauthConsumed(code.model, code.id))).toBe(expected);
    expect(await redis[0]!.pexpiretime(keys.oauthGrantMembers(code.model, "g1"))).toBe(expected);
    await store.upsert(entry({ model: "Client", id: "c1", grant_id: null, expires_at: null }));
    expect(await redis[0]!.pexpiretime(keys.oauthEntry("Client", "c1"))).toBe(-1);
    // A grant's member set lives as long as its longest-lived member.
    await store.upsert(entry({ id: "b".repeat(64), expires_at: at(120_000) }));
    await store.upsert(entry({ id: "c".repeat(64), expires_at: at(30_000) }));
    expect(await redis[0]!.pexpiretime(keys.oauthGrantMembers(code.model, "g1"))).toBe(at(120_000).getTime() + REDIS_EXPIRY_SLACK_MS);
    await deleteUnder(redis[0]!, namespace);
  });

  it("an entry and its consumption marker share a slot, whatever the id holds", () => {
    const keys = redisKeys("t");
    for (const id of ["a".repeat(64), "https://agent.example/{client}", "}{:"]) {
      expect(calculateSlot(keys.oauthConsumed("AuthorizationCode", id))).toBe(calculateSlot(keys.oauthEntry("AuthorizationCode", id)));
    }
    expect(keys.oauthEntry("AuthorizationCode", "x")).not.toBe(keys.oauthEntry("RefreshToken", "x"));
  });

  it("a Redis that does not answer is BackendUnavailableError", async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    const store = new RedisOAuthStore(dead);
    await expect(store.consume("AuthorizationCode", "a".repeat(64), at(0))).rejects.toMatchObject({ code: "backend_unavailable" });
    dead.disconnect();
  });
});
