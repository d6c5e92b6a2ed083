import { Redis } from "ioredis";
import { startRedis } from "../support/servers.js";
import { describeInvalidationAcrossReplicas } from "./invalidation.scenario.js";

describeInvalidationAcrossReplicas("one redis-server", async () => {
  const server = await startRedis();
  return { env: { REDIS_URL: server.url }, client: () => new Redis(server.url), stop: () => server.stop() };
});
