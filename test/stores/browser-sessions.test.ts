// The browser-session store contract on every backend: memory, a real redis-server, FerretDB.
import { MongoClient, type Db } from "mongodb";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBrowserSessionStore } from "../../src/stores/memory/browser-session-store.js";
import { MongoBrowserSessionStore } from "../../src/stores/mongo/browser-session-store.js";
import { ensureIndexes } from "../../src/stores/mongo/schema.js";
import { RedisBrowserSessionStore } from "../../src/stores/redis/browser-session-store.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { generateToken } from "../../src/tokens/format.js";
import { at } from "../support/fixtures.js";
import { CLOSED_PORT, startMongo, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";
import { describeBrowserSessionStoreContract } from "./browser-session-store.contract.js";

let redisServer: RedisServer;
let redis: Redis;
let mongoServer: MongoServer;
let mongo: MongoClient;
let counter = 0;

beforeAll(async () => {
  [redisServer, mongoServer] = await Promise.all([startRedis(), startMongo()]);
  redis = new Redis(redisServer.url);
  mongo = new MongoClient(mongoServer.uri);
  await mongo.connect();
});

afterAll(async () => {
  redis?.disconnect();
  await mongo?.close();
  await Promise.all([redisServer?.stop(), mongoServer?.stop()]);
});

describeBrowserSessionStoreContract("memory", async () => ({ store: new MemoryBrowserSessionStore() }));

describeBrowserSessionStoreContract("redis", async () => {
  const namespace = `bs${++counter}`;
  return {
    store: new RedisBrowserSessionStore(redis, { namespace }),
    cleanup: async () => {
      const keys = await redis.keys(`${namespace}:*`);
      if (keys.length > 0) await redis.del(...keys);
    },
  };
});

describeBrowserSessionStoreContract("mongo", async () => {
  const db: Db = mongo.db(`${mongoServer.dbName}_${++counter}`);
  await ensureIndexes(db);
  return { store: new MongoBrowserSessionStore(db), cleanup: async () => void (await db.dropDatabase()) };
});

describe("redis browser sessions", () => {
  it("keeps one key per session, named by its hash, expiring after the session", async () => {
    const store = new RedisBrowserSessionStore(redis, { namespace: "bsx" });
    const { hash } = generateToken("temp");
    const expires = new Date(Date.now() + 60_000);
    await store.create({ hash, user_id: "alice", created_at: new Date(), expires_at: expires });
    const key = redisKeys("bsx").browserSession(hash);
    expect(key).toBe(`bsx:bs:${hash}`);
    expect(await redis.pexpiretime(key)).toBeGreaterThanOrEqual(expires.getTime());
    await store.revoke(hash);
    expect(await redis.exists(key)).toBe(0);
  });

  it("reports a Redis it cannot reach as unavailable, not as no session", async () => {
    const down = new Redis({ port: CLOSED_PORT, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on("error", () => {});
    try {
      await expect(new RedisBrowserSessionStore(down).get(generateToken("temp").hash, at(0))).rejects.toBeInstanceOf(BackendUnavailableError);
    } finally {
      down.disconnect();
    }
  });
});
