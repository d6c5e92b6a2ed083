// The tools/list id store's contract on memory (a clock of its own), a real redis-server and a
// three-master Redis Cluster (real time, each fixture under a namespace of its own).
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MemoryToolsListRequestStore } from "../../src/stores/memory/tools-list-requests.js";
import { RedisToolsListRequestStore } from "../../src/stores/redis/tools-list-requests.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { failFastRedisOptions } from "../../src/stores/redis/client.js";
import { CLOSED_PORT, startRedis, startRedisCluster, type RedisClusterServer, type RedisServer } from "../support/servers.js";
import { sleep } from "../support/fixtures.js";
import { describeToolsListRequestStoreContract } from "./tools-list-requests.contract.js";

let redis: RedisServer;
let client: Redis;
let cluster: RedisClusterServer;
let clusterClient: Cluster;
let counter = 0;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  client = new Redis(redis.url);
  clusterClient = new Cluster(cluster.nodes);
}, 120_000);

afterAll(async () => {
  client?.disconnect();
  clusterClient?.disconnect();
  await Promise.allSettled([redis?.stop(), cluster?.stop()]);
});

describeToolsListRequestStoreContract("memory", async () => {
  let now = 1_000_000;
  return {
    store: new MemoryToolsListRequestStore(() => now),
    advance: async (ms) => {
      now += ms;
    },
  };
});

for (const [name, of] of [
  ["redis", () => client],
  ["redis cluster", () => clusterClient],
] as const) {
  describeToolsListRequestStoreContract(name, async () => {
    const namespace = `tl${++counter}`;
    return { store: new RedisToolsListRequestStore(of(), { namespace }), advance: (ms) => sleep(ms) };
  });
}

it("redis: one set per caller under the namespace, expiring", async () => {
  const store = new RedisToolsListRequestStore(client, { namespace: "tlkeys" });
  await store.record("tok_a|p1|s1", 3, 60_000);
  expect(await client.smembers("tlkeys:mcp:tl:tok_a|p1|s1")).toEqual(["3"]);
  expect(await client.pttl("tlkeys:mcp:tl:tok_a|p1|s1")).toBeGreaterThan(50_000);
});

it("redis: an unreachable server is BackendUnavailableError, never a quiet false", async () => {
  const down = new Redis(`redis://127.0.0.1:${CLOSED_PORT}`, { ...failFastRedisOptions, lazyConnect: true });
  down.on("error", () => undefined);
  const store = new RedisToolsListRequestStore(down);
  await expect(store.has("c", 1)).rejects.toBeInstanceOf(BackendUnavailableError);
  await expect(store.record("c", 1, 1_000)).rejects.toBeInstanceOf(BackendUnavailableError);
  down.disconnect();
}, 30_000);
