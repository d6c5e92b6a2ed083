// Rate-limiter contract against a real redis-server: one server for the file, a fresh key
// namespace per test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { failFastRedisOptions } from "../../src/stores/redis/client.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { CLOSED_PORT, startRedis, type RedisServer } from "../support/servers.js";
import { sleep } from "../support/fixtures.js";
import { describeRateLimiterContract } from "./rate-limiter.contract.js";

let server: RedisServer;
let client: Redis;
let counter = 0;

beforeAll(async () => {
  server = await startRedis();
  // ioredis's default timeouts: a loaded machine may answer slowly (fail-fast clients are tested below).
  client = new Redis(server.url);
});

afterAll(async () => {
  client?.disconnect();
  await server?.stop();
});

describeRateLimiterContract("redis", async () => {
  const namespace = `t${++counter}`;
  return {
    store: new RedisRateLimiter(client, { namespace }),
    advance: (ms) => sleep(ms),
    cleanup: async () => {
      const keys = await client.keys(`${namespace}:*`);
      if (keys.length > 0) await client.del(...keys);
    },
  };
});

describe("redis specifics", () => {
  it("keeps one sorted set per key, expiring after the window", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "ttl" });
    const key = redisKeys("ttl").rateLimit("user:alice");
    expect(key).toBe("ttl:rl:user:alice");
    await limiter.hit("user:alice", 5, 1_000);
    await limiter.hit("user:alice", 5, 1_000);
    expect(await client.zcard(key)).toBe(2);
    const ttl = await client.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000);
    await limiter.hit("user:alice", 5, 1_000, { consume: false });
    expect(await client.zcard(key)).toBe(2);
    await client.del(key);
  });

  it("reloads the script after SCRIPT FLUSH (EVALSHA falls back to EVAL)", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "flush" });
    expect((await limiter.hit("k", 5, 10_000)).remaining).toBe(4);
    await client.script("FLUSH");
    expect((await limiter.hit("k", 5, 10_000)).remaining).toBe(3);
    await client.del(redisKeys("flush").rateLimit("k"));
  });

  it("two limiters (two app instances) share the count atomically", async () => {
    const other = new Redis(server.url);
    try {
      const a = new RedisRateLimiter(client, { namespace: "shared" });
      const b = new RedisRateLimiter(other, { namespace: "shared" });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).hit("k", 30, 10_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(30);
      await client.del(redisKeys("shared").rateLimit("k"));
    } finally {
      other.disconnect();
    }
  });

  it("rejects an invalid namespace", () => {
    expect(() => redisKeys("has space")).toThrow(TypeError);
  });
});

describe("redis backend down", () => {
  it("rejects with BackendUnavailableError within a few seconds", async () => {
    const own = await startRedis();
    const c = new Redis(own.url, { ...failFastRedisOptions });
    c.on("error", () => {}); // reconnect noise
    try {
      const limiter = new RedisRateLimiter(c, { namespace: "down" });
      expect((await limiter.hit("k", 5, 1_000)).allowed).toBe(true);
      await own.stop();
      const started = Date.now();
      const settled = await Promise.allSettled([limiter.hit("k", 5, 1_000), limiter.hit("k", 5, 1_000, { consume: false })]);
      for (const s of settled) {
        expect(s.status).toBe("rejected");
        if (s.status === "rejected") {
          expect(s.reason).toBeInstanceOf(BackendUnavailableError);
          expect((s.reason as BackendUnavailableError).backend).toBe("redis");
        }
      }
      // Fail-fast options (2 s); ioredis's defaults take over 10 s (20 reconnects). Generous: a loaded machine is slow.
      expect(Date.now() - started).toBeLessThan(8_000);
      // A client that never reached a server fails the same way.
      const never = new Redis(`redis://127.0.0.1:${CLOSED_PORT}`, { ...failFastRedisOptions });
      never.on("error", () => {});
      const t = Date.now();
      await expect(new RedisRateLimiter(never).hit("k", 1, 1_000)).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(Date.now() - t).toBeLessThan(8_000);
      never.disconnect();
    } finally {
      c.disconnect();
      await own.stop();
    }
  });
});
