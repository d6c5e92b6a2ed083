import type { RedisOptions } from "ioredis";

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
