// Rate-limiter contract against a three-master Redis Cluster: every script touches one key, so
// it runs on that key's master; keys spread over the masters, and each master's clock is learned
// apart. Then what only a cluster has: the slot map, a slot moving between masters, readiness.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, Redis } from "ioredis";
import { createRedisClient, probeRedis, serverOf } from "../../src/stores/redis/client.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { RedisMcpSessionStore } from "../../src/stores/redis/mcp-session-store.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { RedisInvalidationBus } from "../../src/stores/redis/invalidation-bus.js";
import type { ChangeEvent } from "../../src/facts/invalidation.js";
import { startRedisCluster, type RedisClusterServer } from "../support/servers.js";
import { sleep } from "../support/fixtures.js";
import { describeMcpSessionStoreContract } from "./mcp-session-store.contract.js";
import { describeRateLimiterContract } from "./rate-limiter.contract.js";

let cluster: RedisClusterServer;
let client: Cluster;
let counter = 0;

/** This machine is shared and loaded: the contract is about counting, not about the timeout. */
const PATIENT = { timeoutMs: 2_000 };

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.nodes);
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

/** Every key under `namespace`, from every master (KEYS on a cluster asks one node). */
async function keysUnder(namespace: string): Promise<string[]> {
  const perNode = await Promise.all(client.nodes("master").map((node) => node.keys(`${namespace}:*`)));
  return perNode.flat();
}

describeRateLimiterContract("redis cluster", async () => {
  const namespace = `c${++counter}`;
  return {
    store: new RedisRateLimiter(client, { namespace, ...PATIENT }),
    advance: (ms) => sleep(ms),
    // One DEL per key: a multi-key DEL across slots is refused (CROSSSLOT).
    cleanup: async () => void (await Promise.all((await keysUnder(namespace)).map((key) => client.del(key)))),
  };
});

// Real time: a lifetime long enough that a loaded machine's late timers stay well inside it.
describeMcpSessionStoreContract("redis cluster", async () => {
  const namespace = `cs${++counter}`;
  return {
    store: new RedisMcpSessionStore(client, { namespace }),
    limiter: new RedisRateLimiter(client, { namespace, ...PATIENT }),
    ttlMs: 1_000,
    advance: (ms) => sleep(ms),
    cleanup: async () => void (await Promise.all((await keysUnder(namespace)).map((key) => client.del(key)))),
  };
});

/** The "host:port" of the master serving `key`, asked of the cluster itself. */
async function masterOf(key: string): Promise<string> {
  const slot = Number(await client.cluster("KEYSLOT", key));
  const range = (await client.cluster("SLOTS")).find(([from, to]) => from <= slot && slot <= to)!;
  const [host, port] = range[2]!;
  return `${host}:${port}`;
}

/** Moves `key`'s slot, and the keys in it, to another master (what a resharding does, one slot). */
async function moveSlotOf(key: string): Promise<string> {
  const slot = Number(await client.cluster("KEYSLOT", key));
  const from = await masterOf(key);
  const to = cluster.nodes.find((node) => node !== from)!;
  const connect = (address: string) => new Redis(Number(address.split(":")[1]), "127.0.0.1");
  const [source, target] = [connect(from), connect(to)];
  try {
    const [sourceId, targetId] = await Promise.all([source.cluster("MYID"), target.cluster("MYID")]);
    await target.cluster("SETSLOT", slot, "IMPORTING", String(sourceId));
    await source.cluster("SETSLOT", slot, "MIGRATING", String(targetId));
    for (const k of (await source.cluster("GETKEYSINSLOT", slot, 1000)) as string[]) {
      await source.migrate("127.0.0.1", Number(to.split(":")[1]), k, 0, 5_000);
    }
    for (const node of cluster.nodes.map(connect)) {
      await node.cluster("SETSLOT", slot, "NODE", String(targetId));
      node.disconnect();
    }
    return to;
  } finally {
    source.disconnect();
    target.disconnect();
  }
}

describe("redis cluster specifics", () => {
  it("spreads rate-limit keys over the masters, each under the namespace, and knows which master holds each", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "spread", ...PATIENT });
    for (let i = 0; i < 30; i++) await limiter.hit(`user:u${i}`, 5, 10_000);
    const holders = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const key = redisKeys("spread").rateLimit(`user:u${i}`, 10_000);
      const master = await masterOf(key);
      expect(serverOf(client, key)).toBe(master);
      holders.add(master);
    }
    expect(holders).toEqual(new Set(cluster.nodes));
    const keys = await keysUnder("spread");
    expect(keys).toHaveLength(30);
    for (const key of keys) expect(key).toMatch(/^spread:rl:10000:user:u\d+$/);
  });

  it("two limiters on two cluster clients (two replicas) share each count exactly", async () => {
    const other = new Cluster(cluster.nodes);
    try {
      const a = new RedisRateLimiter(client, { namespace: "shared", ...PATIENT });
      const b = new RedisRateLimiter(other, { namespace: "shared", ...PATIENT });
      const keys = ["k1", "k2", "k3", "k4"];
      const results = await Promise.all(Array.from({ length: 240 }, (_, i) => ((i & 1) === 0 ? a : b).hit(keys[i % 4]!, 17, 10_000).then((r) => ({ key: keys[i % 4]!, r }))));
      for (const key of keys) expect(results.filter((x) => x.key === key && x.r.allowed)).toHaveLength(17);
    } finally {
      other.disconnect();
    }
  });

  it("keeps counting a key whose slot moves to another master, learning the new master's clock", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "moved", ...PATIENT });
    const key = redisKeys("moved").rateLimit("user:mover", 60_000);
    for (let i = 0; i < 3; i++) expect((await limiter.hit("user:mover", 5, 60_000)).allowed).toBe(true);
    const to = await moveSlotOf(key);
    // The client learns the move from the first MOVED reply; the count came along with the key.
    const after = await limiter.hit("user:mover", 5, 60_000);
    expect(after).toMatchObject({ allowed: true, remaining: 1 });
    expect(serverOf(client, key)).toBe(to);
    expect(await limiter.hit("user:mover", 5, 60_000)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await limiter.hit("user:mover", 5, 60_000)).allowed).toBe(false);
  });

  it("the invalidation bus hears a message published on any master (classic pub/sub crosses the cluster bus)", async () => {
    const subscriber = new Cluster(cluster.nodes);
    const bus = new RedisInvalidationBus(client, subscriber, { namespace: "bus", heartbeatMs: 100 });
    const events: ChangeEvent[] = [];
    bus.onChange((e) => events.push(e));
    const up = new Promise<void>((resolve) => bus.onState((s) => s === "up" && resolve()));
    bus.start();
    try {
      await up;
      // Each master in turn takes the PUBLISH, whichever node the bus's subscription sits on.
      for (const [i, address] of cluster.nodes.entries()) {
        const node = new Redis(Number(address.split(":")[1]), "127.0.0.1");
        const message = { v: 1, kind: "user", id: `u${i}`, origin: "another-replica", seq: i + 1, ts: Date.now() };
        await node.publish("bus:invalidate", JSON.stringify(message));
        node.disconnect();
      }
      for (const deadline = Date.now() + 30_000; events.length < 3 && Date.now() < deadline; ) await sleep(20);
      // In any order: a message forwarded over the cluster bus can arrive after a later one
      // published on the subscriber's own node (harmless: an invalidation only drops a copy).
      expect([...events].sort((x, y) => x.id.localeCompare(y.id))).toEqual([0, 1, 2].map((i) => ({ kind: "user", id: `u${i}` })));
    } finally {
      await bus.close();
    }
  });

  // Last: it stops a master of the file's cluster.
  it("is ready while the cluster serves every slot, and not once a master is gone", async () => {
    const probing = createRedisClient({ redisUrl: null, redisClusterNodes: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: Number(n.split(":")[1]) })) }, { lazyConnect: false });
    try {
      await expect(probeRedis(probing)).resolves.toBeUndefined();
      await cluster.stopNode(2);
      let failure: unknown;
      for (const deadline = Date.now() + 60_000; failure === undefined && Date.now() < deadline; await sleep(200)) {
        await probeRedis(probing).catch((err: unknown) => (failure = err));
      }
      expect(String(failure)).toMatch(/cluster_state:fail|Connection|ECONNREFUSED|closed|None of startup nodes|timed out/i);
    } finally {
      probing.disconnect();
    }
  });
});
