// Where the authorization server's objects are kept (docs/oauth.md "What is stored, and
// where"): Redis when configured, else MongoDB, else memory. Nothing is reached here: the
// choice is made at wiring time.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends } from "../../src/server/backends.js";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { MongoOAuthStore } from "../../src/stores/mongo/oauth-store.js";
import { RedisOAuthStore } from "../../src/stores/redis/oauth-store.js";
import { CLOSED_PORT } from "../support/servers.js";

const MONGODB_URI = `mongodb://127.0.0.1:${CLOSED_PORT}/?serverSelectionTimeoutMS=200`;
const REDIS_URL = `redis://127.0.0.1:${CLOSED_PORT}`;

async function storeFor(env: Record<string, string>): Promise<unknown> {
  const backends = connectBackends(loadConfig({ TOLLGATE_DEMO: "false", ...env }), pino({ level: "silent" }), undefined, undefined, { prune: false });
  try {
    return backends.oauth;
  } finally {
    await backends.close();
  }
}

describe("the OAuth store", () => {
  it("is Redis when configured, with or without MongoDB", async () => {
    expect(await storeFor({ REDIS_URL, MONGODB_URI })).toBeInstanceOf(RedisOAuthStore);
    expect(await storeFor({ REDIS_URL })).toBeInstanceOf(RedisOAuthStore);
  });

  it("is MongoDB without Redis, and memory without either", async () => {
    expect(await storeFor({ MONGODB_URI })).toBeInstanceOf(MongoOAuthStore);
    expect(await storeFor({})).toBeInstanceOf(MemoryOAuthStore);
  });
});
