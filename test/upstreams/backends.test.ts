// Where the upstream stores live, chosen at wiring time (nothing is reached here): sealed in Redis
// and MongoDB when TOLLGATE_ENCRYPTION_KEYS is set, in this process's memory otherwise.
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends, type Backends } from "../../src/server/backends.js";
import { MemoryDcrCredentialStore } from "../../src/stores/memory/dcr-credential-store.js";
import { MemoryUpstreamTokenStore } from "../../src/stores/memory/upstream-token-store.js";
import { MongoUpstreamTokenStore } from "../../src/stores/mongo/upstream-token-store.js";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { CLOSED_PORT } from "../support/servers.js";

const MONGODB_URI = `mongodb://127.0.0.1:${CLOSED_PORT}/?serverSelectionTimeoutMS=200`;
const REDIS_URL = `redis://127.0.0.1:${CLOSED_PORT}`;
const KEYS = `k1:${randomBytes(32).toString("base64")}`;

async function storesFor(env: Record<string, string>): Promise<Pick<Backends, "dcrCredentials" | "upstreamTokens">> {
  const backends = connectBackends(loadConfig({ TOLLGATE_DEMO: "false", ...env }), pino({ level: "silent" }), undefined, undefined, { prune: false });
  try {
    return { dcrCredentials: backends.dcrCredentials, upstreamTokens: backends.upstreamTokens };
  } finally {
    await backends.close();
  }
}

describe("the upstream stores", () => {
  it("are Redis (registrations) and MongoDB (users' tokens) with encryption keys", async () => {
    const stores = await storesFor({ REDIS_URL, MONGODB_URI, TOLLGATE_ENCRYPTION_KEYS: KEYS });
    expect(stores.dcrCredentials).toBeInstanceOf(RedisDcrCredentialStore);
    expect(stores.upstreamTokens).toBeInstanceOf(MongoUpstreamTokenStore);
  });

  it("stay in memory without keys, or without the backends", async () => {
    const noKeys = await storesFor({ REDIS_URL, MONGODB_URI });
    expect(noKeys.dcrCredentials).toBeInstanceOf(MemoryDcrCredentialStore);
    expect(noKeys.upstreamTokens).toBeInstanceOf(MemoryUpstreamTokenStore);
    const noBackends = await storesFor({ TOLLGATE_ENCRYPTION_KEYS: KEYS });
    expect(noBackends.dcrCredentials).toBeInstanceOf(MemoryDcrCredentialStore);
    expect(noBackends.upstreamTokens).toBeInstanceOf(MemoryUpstreamTokenStore);
  });
});
