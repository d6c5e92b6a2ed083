import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import calculateSlot from "cluster-key-slot";
import type { RedisClusterNode } from "../../config/config.js";

/**
 * ioredis options under which a dead or unreachable server fails a store call within a few seconds
 * (as BackendUnavailableError) instead of queueing it through reconnects indefinitely.
 */
export const failFastRedisOptions: Readonly<RedisOptions> = Object.freeze({
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (times: number) => Math.min(times * 200, 2_000),
});

/**
 * Keys of state whose expiry Tollgate decides with its own clock (browser sessions, OAuth
 * objects) expire in Redis this long after it: a Redis clock ahead of ours never drops them early.
 */
export const REDIS_EXPIRY_SLACK_MS = 3_600_000;

/** One Redis server or a Redis Cluster: what the rate limiter and the invalidation bus talk to. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: REDIS_URL, or TOLLGATE_REDIS_CLUSTER_NODES (validated exclusive by config). */
export interface RedisTarget {
  redisUrl: string | null;
  redisClusterNodes: RedisClusterNode[] | null;
}

export const redisConfigured = (target: RedisTarget): boolean => target.redisUrl !== null || target.redisClusterNodes !== null;

/**
 * The same fail-fast bounds for a cluster: per node (connect, command timeout, one retry), and
 * for the cluster's own reconnects to its seed nodes. `giveUpAfter`: stop reconnecting after that
 * many failed attempts, failing what waits in the offline queue (the CLI, which must exit).
 */
function clusterOptions(giveUpAfter: number | undefined): ClusterOptions {
  const { retryStrategy, ...perNode } = failFastRedisOptions;
  return {
    redisOptions: perNode,
    clusterRetryStrategy: (times: number) => (giveUpAfter !== undefined && times > giveUpAfter ? null : retryStrategy!(times)),
    slotsRefreshTimeout: 2_000,
    // Besides following MOVED/ASK: a failover or resharding is learned within 5 s.
    slotsRefreshInterval: 5_000,
    // Every command to the slot's master (the default, stated): a replica's counts can be behind.
    scaleReads: "master",
  };
}

/** A client for the configured Redis (call only when redisConfigured). */
export function createRedisClient(target: RedisTarget, options: { lazyConnect: boolean; giveUpAfter?: number }): RedisClient {
  if (target.redisClusterNodes) return new Cluster(target.redisClusterNodes, { ...clusterOptions(options.giveUpAfter), lazyConnect: options.lazyConnect });
  if (!target.redisUrl) throw new TypeError("no Redis configured");
  return new Redis(target.redisUrl, { ...failFastRedisOptions, lazyConnect: options.lazyConnect });
}

/**
 * Readiness: a server answers PING; a cluster must also say it serves every slot
 * (cluster_state:ok), since a PING to one healthy node says nothing about the others.
 */
export async function probeRedis(client: RedisClient): Promise<void> {
  if (!(client instanceof Cluster)) {
    await client.ping();
    return;
  }
  const info = String(await client.cluster("INFO"));
  if (!/^cluster_state:ok\r?$/m.test(info)) throw new Error(`Redis Cluster not ok: ${/^cluster_state:\w+/m.exec(info)?.[0] ?? "no cluster_state"}`);
}

/**
 * The server that runs commands on `key`: the master of its hash slot in a cluster (as the client
 * last learned the slot map, so it follows a MOVED), null while the map is not loaded yet.
 */
export function serverOf(client: RedisClient, key: string): string | null {
  if (!(client instanceof Cluster)) return "server";
  return client.slots[calculateSlot(key)]?.[0] ?? null;
}

/** A second connection to the same Redis or cluster (a subscriber serves nothing else). */
export function duplicateRedisClient(client: RedisClient): RedisClient {
  return client instanceof Cluster ? client.duplicate() : client.duplicate();
}
