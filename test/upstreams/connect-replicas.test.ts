// Connect once, use from any replica, keep it across restarts: replicas as production runs them,
// each with its own connections to a real redis-server (registrations sealed, locks) and FerretDB
// (users' upstream tokens sealed), oidc-provider as the upstream's authorization server.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureIndexes } from "../../src/stores/mongo/schema.js";
import { MongoUpstreamTokenStore } from "../../src/stores/mongo/upstream-token-store.js";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { UpstreamConnector, type OauthUpstream } from "../../src/upstreams/connect.js";
import { UpstreamAuthDiscovery } from "../../src/upstreams/discovery.js";
import { AesGcmSecretCipher } from "../../src/upstreams/encryption.js";
import { RedisLocks } from "../../src/upstreams/locks.js";
import { UpstreamRegistrar } from "../../src/upstreams/registration.js";
import { startMongo, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, walkToCallback, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";

const PUBLIC_URL = "http://127.0.0.1:9";
/** Every replica has the same TOLLGATE_ENCRYPTION_KEYS. */
const cipher = new AesGcmSecretCipher([{ kid: "k1", key: randomBytes(32) }]);
let as: UpstreamAs;
let mcp: UpstreamMcp;
let redis: RedisServer;
let mongo: MongoServer;
let upstream: OauthUpstream;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [as, redis, mongo] = await Promise.all([startUpstreamAs(), startRedis(), startMongo()]);
  mcp = await startUpstreamMcp(as);
  upstream = { name: "docs", url: new URL(mcp.url), scopes: [] };
  const setup = new MongoClient(mongo.uri);
  await setup.connect();
  await ensureIndexes(setup.db());
  await setup.close();
});

afterAll(async () => {
  for (const close of closers) await close();
  await mcp?.close();
  await as?.close();
  await redis?.stop();
  await mongo?.stop();
});

/** A replica process: its own Redis and MongoDB connections, caches and connector. */
async function replica(): Promise<UpstreamConnector> {
  const r = new Redis(redis.url);
  const m = new MongoClient(mongo.uri);
  await m.connect();
  closers.push(async () => {
    r.disconnect();
    await m.close();
  });
  const locks = new RedisLocks(r, { namespace: "replicas" });
  const registrar = new UpstreamRegistrar({ store: new RedisDcrCredentialStore(r, cipher, { namespace: "replicas" }), locks, clientName: "Tollgate", onReregistered: async () => undefined });
  return new UpstreamConnector({ discovery: new UpstreamAuthDiscovery({ plainLoopback: true }), registrar, tokens: new MongoUpstreamTokenStore(m.db(), cipher), locks, publicUrl: PUBLIC_URL });
}

describe("the connect flow across replicas", () => {
  it("connected through one replica, the user's token is served by the others and after a restart; Tollgate registered once", async () => {
    const registrations = as.registrations();
    const [a, b] = await Promise.all([replica(), replica()]);
    const user = { userId: "bob", sessionId: randomBytes(16).toString("base64url") };
    const { location, pending } = await a.begin(upstream, user);
    as.signInAs("upstream-bob");
    const callback = await walkToCallback(location, a.redirectUri("docs"));
    // The browser's callback lands on the other replica.
    await b.complete(upstream, user, Object.fromEntries(callback.searchParams), pending);
    const fromA = await a.access(upstream, "bob");
    const fromB = await b.access(upstream, "bob");
    expect(fromA.kind).toBe("token");
    expect(fromB).toEqual(fromA);
    // Every replica restarted: new processes, the same Redis and MongoDB.
    const restarted = await replica();
    expect(await restarted.access(upstream, "bob")).toEqual(fromA);
    const res = await fetch(mcp.url, {
      method: "POST",
      headers: { authorization: `Bearer ${(fromA as { accessToken: string }).accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(200);
    // A new connection after the restart uses the stored registration.
    const carol = { userId: "carol", sessionId: randomBytes(16).toString("base64url") };
    await restarted.begin(upstream, carol);
    expect(as.registrations() - registrations).toBe(1);
  });
});
