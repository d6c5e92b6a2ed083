// The rate limiter's side of a Redis hang, through /v1/authorize on a real redis-server: every
// counted request is answered within the limiter's timeout (fail-closed: 503, fail-open: admitted
// uncounted), and none of the requests answered during the hang is charged when Redis resumes.
import { Redis } from "ioredis";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failFastRedisOptions } from "../../src/stores/redis/client.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { sleep } from "../support/fixtures.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { bearer, buildWorld, type World } from "./fixture.js";

let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { ...failFastRedisOptions });
  client.on("error", () => {});
  await client.ping();
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

async function worldOn(limiter: RedisRateLimiter, fail: "open" | "closed"): Promise<World> {
  const env = { TOLLGATE_RATE_LIMIT_FAIL: fail, TOLLGATE_RATE_LIMITS: '{"api":{"default":20}}' };
  const base = await buildWorld(env);
  return buildWorld(env, { ...base.tollgate.backends, rateLimiter: limiter });
}

describe("Redis hangs under /v1/authorize", () => {
  it("answers at once in either fail mode, and charges none of those requests when Redis resumes", async () => {
    // Both worlds share one limiter (one breaker) and so one Redis counter for bob. A 500 ms
    // timeout: this shared machine is loaded, and the test counts, it does not time.
    let probes = 0;
    const limiter = new RedisRateLimiter(client, { timeoutMs: 500, breaker: { backoffMs: 500, maxBackoffMs: 1_000, onChange: (s) => void (s === "half_open" && probes++) } });
    const closed = await worldOn(limiter, "closed");
    const open = await worldOn(limiter, "open");
    const authorize = (world: World, dry_run = false) =>
      request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal), dry_run });

    expect((await authorize(closed)).body).toMatchObject({ allow: true, rate_limit: { remaining: 19 } });
    expect((await authorize(open)).body).toMatchObject({ allow: true, rate_limit: { remaining: 18 } });

    const pid = Number(/process_id:(\d+)/.exec(await client.info("server"))![1]);
    process.kill(pid, "SIGSTOP");
    let answered = 0;
    try {
      // Longer than the deadline's slack and ioredis's own 2 s command timeout.
      for (const end = Date.now() + 2_500; Date.now() < end; answered += 2) {
        expect((await authorize(closed)).body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"], rate_limit: null });
        expect((await authorize(open)).body).toMatchObject({ allow: true, status: 200, rate_limit: null });
        await sleep(20);
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // Only the first request and the breaker's probes waited for Redis; the rest were answered at once.
    expect(answered).toBeGreaterThan(4 * (1 + probes));

    // Once Redis answers again (a probe closes the breaker, late replies are refunded), bob's
    // budget is what it was before the hang: 18 left.
    let peek = null;
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(50)) {
      peek = (await authorize(closed, true)).body;
      if (peek.rate_limit?.remaining === 18) break;
    }
    expect(peek).toMatchObject({ allow: true, rate_limit: { remaining: 18 } });
    expect((await authorize(open)).body).toMatchObject({ allow: true, rate_limit: { remaining: 17 } });
  });
});
