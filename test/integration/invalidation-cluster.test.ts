// The same two replicas on a three-master Redis Cluster: PUBLISH goes to whichever node the
// client picks, and each replica's subscription sits on a node of its own; classic pub/sub
// carries the message across the cluster bus to both.
import { Cluster } from "ioredis";
import { startRedisCluster } from "../support/servers.js";
import { describeInvalidationAcrossReplicas } from "./invalidation.scenario.js";

describeInvalidationAcrossReplicas("a Redis Cluster", async () => {
  const cluster = await startRedisCluster();
  return { env: { TOLLGATE_REDIS_CLUSTER_NODES: cluster.nodesEnv }, client: () => new Cluster(cluster.nodes), stop: () => cluster.stop() };
});
