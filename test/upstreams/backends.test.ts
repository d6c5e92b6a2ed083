// Where the upstream stores live, chosen at wiring time (nothing is reached here): sealed in Redis
// and MongoDB when TOLLGATE_ENCRYPTION_KEYS is set; otherwise absent from the backends, and the
// composition root (src/server/upstream-oauth.ts) keeps them in this process.
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends } from "../../src/server/backends.js";
import { MongoUpstreamTokenStore } from "../../src/stores/mongo/upstream-token-store.js";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { CLOSED_PORT } from "../support/servers.js";

const MONGODB_URI = `mongodb://127.0.0.1:${CLOSED_PORT}/?serverSelectionTimeoutMS=200`;
const REDIS_URL = `redis://127.0.0.1:${CLOSED_PORT}`;
const KEYS = `k1:${randomBytes(32).toString("base64")}`;

async function storesFor(env: Record<string, string>): Promise<{ dcr: unknown; upstreamTokens: unknown }> {
  const backends = connectBackends(loadConfig({ TOLLGATE_DEMO: "false", ...env }), pino({ level: "silent" }), undefined, undefined, { prune: false });
  try {
    return { dcr: backends.upstreamOAuth?.dcr, upstreamTokens: backends.upstreamTokens };
  } finally {
    await backends.close();
  }
}

describe("the upstream stores", () => {
  it("are Redis (registrations) and MongoDB (users' tokens) with encryption keys", async () => {
    const stores = await storesFor({ REDIS_URL, MONGODB_URI, TOLLGATE_ENCRYPTION_KEYS: KEYS });
    expect(stores.dcr).toBeInstanceOf(RedisDcrCredentialStore);
    expect(stores.upstreamTokens).toBeInstanceOf(MongoUpstreamTokenStore);
  });

  it("are not shared without keys, or without the backends", async () => {
    expect(await storesFor({ REDIS_URL, MONGODB_URI })).toEqual({ dcr: undefined, upstreamTokens: undefined });
    expect(await storesFor({ TOLLGATE_ENCRYPTION_KEYS: KEYS })).toEqual({ dcr: undefined, upstreamTokens: undefined });
  });
});
