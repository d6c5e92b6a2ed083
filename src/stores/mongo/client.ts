import type { MongoClientOptions } from "mongodb";

/**
 * Client options under which a dead or unreachable server fails a store call within a few seconds
 * (as BackendUnavailableError) instead of the driver's 30 s server-selection default.
 */
export const failFastMongoOptions: Readonly<MongoClientOptions> = Object.freeze({
  serverSelectionTimeoutMS: 2_000,
  connectTimeoutMS: 2_000,
  socketTimeoutMS: 5_000,
});
