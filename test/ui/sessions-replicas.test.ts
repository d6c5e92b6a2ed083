// Browser sessions live in the shared store: two Tollgates on one Redis, or on one FerretDB,
// serve each other's sessions, and signing out (POST /ui/logout) on either ends the session on
// both at once: the copied cookie opens no page and posts no form anywhere. The store holds only
// the hash.
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../gateway/helpers.js";
import { startMongo, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";
import { csrfOf, formBrowser, type FormBrowser } from "./browser.js";

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Signs in on `on` and returns the browser and its session cookie's value. */
async function signIn(on: Gateway, user: string): Promise<{ browser: FormBrowser; secret: string }> {
  const browser = formBrowser(on.url);
  expect((await browser.post("/ui/login", { user_id: user })).status).toBe(303);
  return { browser, secret: browser.cookies.get("tollgate_session")! };
}

/** A browser on `on` holding a copy of the cookie. */
function withCookie(on: Gateway, secret: string): FormBrowser {
  const browser = formBrowser(on.url);
  browser.cookies.set("tollgate_session", secret);
  return browser;
}

/** The session is dead on `on`: no page (sent to sign in), no form (401 page). */
async function refusedOn(on: Gateway, secret: string, csrf: string): Promise<void> {
  const copy = withCookie(on, secret);
  const page = await copy.get("/ui/tokens");
  expect(page.status).toBe(303);
  expect(page.headers.location).toMatch(/^\/ui\/login\?return_to=/);
  const form = await copy.post("/ui/tokens", { csrf_token: csrf, name: "after sign-out", project_id: "priv", expires_in_days: "30" });
  expect(form.status).toBe(401);
}

/** The scenario, the same on either shared store: `stored()` lists the hashes the store holds. */
function signOutEverywhere(replicas: () => [Gateway, Gateway], stored: () => Promise<string[]>): void {
  it("a session started on one replica is served by the other, and signing out on the other ends it on both", async () => {
    const [a, b] = replicas();
    const { browser: onA, secret } = await signIn(a, "bob");
    expect(await stored()).toContain(sha256(secret));
    expect(JSON.stringify(await stored())).not.toContain(secret);

    // Served by both, so both would have anything cached.
    expect((await onA.get("/ui/tokens")).status).toBe(200);
    const page = await withCookie(b, secret).get("/ui/tokens");
    expect(page.status).toBe(200);
    expect(page.body).toContain("Signed in as <strong>bob</strong>");
    const csrf = csrfOf(page.body);

    expect((await withCookie(b, secret).post("/ui/logout", { csrf_token: csrf })).status).toBe(200);
    expect(await stored()).not.toContain(sha256(secret));
    await refusedOn(a, secret, csrf);
    await refusedOn(b, secret, csrf);
    expect((await gatewayTokens(a, "bob")).filter((name) => name === "after sign-out")).toEqual([]);
  });

  it("signing out one browser leaves the user's other sessions alone", async () => {
    const [a, b] = replicas();
    const first = await signIn(a, "alice");
    const second = await signIn(b, "alice");
    const page = await first.browser.get("/ui/tokens");
    expect((await first.browser.post("/ui/logout", { csrf_token: csrfOf(page.body) })).status).toBe(200);
    await refusedOn(b, first.secret, csrfOf(page.body));
    expect((await withCookie(a, second.secret).get("/ui/tokens")).status).toBe(200);
  });
}

async function gatewayTokens(on: Gateway, user: string): Promise<string[]> {
  return (await on.world.tollgate.facts.tokenStore.listByUser(user)).map((r) => r.name ?? "");
}

describe("browser sessions across replicas on Redis", () => {
  let redis: RedisServer;
  let client: Redis;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    const env = { REDIS_URL: redis.url, TOLLGATE_REDIS_NAMESPACE: "replicas" };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    client?.disconnect();
    await redis?.stop();
  });

  signOutEverywhere(
    () => [a, b],
    async () => (await client.keys("replicas:bs:*")).map((k) => k.slice("replicas:bs:".length)),
  );
});

describe("browser sessions across replicas on FerretDB (no Redis)", () => {
  let mongo: MongoServer;
  let client: MongoClient;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    mongo = await startMongo();
    client = await new MongoClient(mongo.uri).connect();
    const env = { MONGODB_URI: mongo.uri, MONGODB_DB: mongo.dbName };
    [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await client?.close();
    await mongo?.stop();
  });

  signOutEverywhere(
    () => [a, b],
    async () => JSON.parse(JSON.stringify(await client.db(mongo.dbName).collection("browser_sessions").find({}).toArray())).map((d: { _id: string }) => d._id),
  );
});
