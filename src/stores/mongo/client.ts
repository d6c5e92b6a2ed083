import { MongoClient, type Db, type MongoClientOptions } from "mongodb";
import type { Logger } from "../../log.js";

/**
 * Client options under which a dead or unreachable server fails a store call within a few seconds
 * (as BackendUnavailableError) instead of the driver's 30 s server-selection default.
 */
export const failFastMongoOptions: Readonly<MongoClientOptions> = Object.freeze({
  serverSelectionTimeoutMS: 2_000,
  connectTimeoutMS: 2_000,
  socketTimeoutMS: 5_000,
});

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 10_000;

/** A connect attempt that has neither succeeded nor failed for this long is a local wedge. */
export const MONGO_WEDGE_MS = 60_000;

export interface MongoConnection {
  client: MongoClient;
  db: Db;
  /**
   * True while a connect attempt (re-creating a closed topology) has been under way for
   * MONGO_WEDGE_MS without an outcome. A server that is down makes attempts fail within
   * seconds (and retried): that is not a wedge, so /healthz stays 200 and /readyz reports it.
   */
  wedged(): boolean;
  close(): Promise<void>;
}

export interface ConnectMongoOptions {
  /** Milliseconds clock for wedged(); injectable for tests. Default performance.now. */
  now?: () => number;
}

/**
 * A MongoClient that keeps connecting, with backoff, until it reaches the server. The driver
 * closes a topology for good when its first connect fails (every later operation then fails with
 * "Topology is closed"); connect() on the same client opens a fresh topology, so a replica started
 * while MongoDB was unreachable recovers once it is back, and the stores' Db stays valid.
 */
export function connectMongo(
  uri: string,
  dbName: string,
  logger: Pick<Logger, "info" | "warn">,
  options: MongoClientOptions = {},
  { now = () => performance.now() }: ConnectMongoOptions = {},
): MongoConnection {
  const client = new MongoClient(uri, { ...failFastMongoOptions, ...options });
  let failures = 0;
  let connecting = false;
  let connectingSince = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const attempt = async (): Promise<void> => {
    timer = undefined;
    if (closed || connecting) return;
    connecting = true;
    connectingSince = now();
    try {
      await client.connect();
      if (failures > 0) logger.info({ failures }, "MongoDB connected");
      failures = 0;
    } catch (err) {
      failures++;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (failures - 1));
      logger.warn({ err: String(err), failures, retry_ms: delay }, "MongoDB connect failed; retrying");
      if (!closed) timer = setTimeout(() => void attempt(), delay).unref();
    } finally {
      connecting = false;
    }
  };
  // A topology closed outside connect() (one an operation opened and failed) is replaced too.
  client.on("topologyClosed", () => {
    if (!closed && !connecting && !timer) timer = setTimeout(() => void attempt(), RECONNECT_BASE_MS).unref();
  });
  void attempt();

  return {
    client,
    db: client.db(dbName),
    wedged: () => connecting && now() - connectingSince >= MONGO_WEDGE_MS,
    async close() {
      closed = true;
      clearTimeout(timer);
      await client.close();
    },
  };
}
