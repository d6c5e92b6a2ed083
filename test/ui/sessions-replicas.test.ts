// Browser sessions live in the shared store: two Tollgates on one Redis serve each other's
// sessions, and signing out on one ends the session on both. Redis holds only the hash.
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../gateway/helpers.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { csrfOf, formBrowser } from "./browser.js";

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

describe("browser sessions across replicas", () => {
  it("a session started on one replica is served by the other, and signing out on the other ends it", async () => {
    const onA = formBrowser(a.url);
    expect((await onA.post("/ui/login", { user_id: "bob" })).status).toBe(303);
    const secret = onA.cookies.get("tollgate_session")!;
    expect(await client.keys("replicas:bs:*")).toEqual([`replicas:bs:${createHash("sha256").update(secret).digest("hex")}`]);

    const onB = formBrowser(b.url);
    onB.cookies.set("tollgate_session", secret);
    const page = await onB.get("/ui/tokens");
    expect(page.status).toBe(200);
    expect(page.body).toContain("Signed in as <strong>bob</strong>");

    expect((await onB.post("/ui/logout", { csrf_token: csrfOf(page.body) })).status).toBe(200);
    expect(await client.keys("replicas:bs:*")).toEqual([]);
    expect((await onA.get("/ui/tokens")).status).toBe(303);
  });
});
