// The DCR credential store contract on a 3-node Redis Cluster (TOLLGATE_REDIS_CLUSTER_NODES):
// every operation is on one key, so registrations spread over the slots and still behave as one store.
import { randomBytes } from "node:crypto";
import { Cluster } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { AesGcmSecretCipher } from "../../src/upstreams/encryption.js";
import { startRedisCluster, type RedisClusterServer } from "../support/servers.js";
import { describeDcrStoreContract } from "./dcr-store.contract.js";

let cluster: RedisClusterServer;
let client: Cluster;
let counter = 0;
const cipher = new AesGcmSecretCipher([{ kid: "a", key: randomBytes(32) }]);

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.nodes);
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

describeDcrStoreContract("redis cluster", async () => {
  const namespace = `dcrc${++counter}`;
  return {
    store: new RedisDcrCredentialStore(client, cipher, { namespace }),
    cleanup: async () => {
      for (const node of client.nodes("master")) {
        const keys = await node.keys(`${namespace}:*`);
        if (keys.length > 0) await Promise.all(keys.map((k) => node.del(k)));
      }
    },
  };
});
