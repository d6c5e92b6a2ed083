// Rate-limiter contract against a real redis-server: one server for the file, a fresh key
// namespace per test. Then what only Redis has: the hash per key, its memory, real time, and
// faults (a hung server, slow replies, a stopped server).
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import type { BreakerState } from "../../src/stores/circuit-breaker.js";
import { SUB_WINDOWS, subWindowUs } from "../../src/stores/rate-window.js";
import { failFastRedisOptions } from "../../src/stores/redis/client.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { RedisMcpSessionStore } from "../../src/stores/redis/mcp-session-store.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { CLOSED_PORT, startRedis, type RedisServer } from "../support/servers.js";
import { sleep } from "../support/fixtures.js";
import { describeMcpSessionStoreContract } from "./mcp-session-store.contract.js";
import { describeRateLimiterContract } from "./rate-limiter.contract.js";

let server: RedisServer;
let client: Redis;
let counter = 0;

/** This machine is shared and loaded: the contract is about counting, not about the timeout. */
const PATIENT = { timeoutMs: 2_000 };

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
    store: new RedisRateLimiter(client, { namespace, ...PATIENT }),
    advance: (ms) => sleep(ms),
    cleanup: async () => {
      const keys = await client.keys(`${namespace}:*`);
      if (keys.length > 0) await client.del(...keys);
    },
  };
});

// Real time: a lifetime long enough that a loaded machine's late timers stay well inside it.
describeMcpSessionStoreContract("redis", async () => {
  const namespace = `s${++counter}`;
  return {
    store: new RedisMcpSessionStore(client, { namespace }),
    limiter: new RedisRateLimiter(client, { namespace, ...PATIENT }),
    ttlMs: 1_000,
    advance: (ms) => sleep(ms),
    cleanup: async () => {
      const keys = await client.keys(`${namespace}:*`);
      if (keys.length > 0) await client.del(...keys);
    },
  };
});

/** Polls `probe` until it holds (up to `ms`); the assertion after it says what was expected. */
async function eventually(probe: () => Promise<boolean>, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end && !(await probe()); ) await sleep(25);
}

describe("redis specifics", () => {
  it("keeps one small hash per key and window, expiring one sub-window after the window", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "ttl", ...PATIENT });
    const key = redisKeys("ttl").rateLimit("user:alice", 1_000);
    expect(key).toBe("ttl:rl:1000:user:alice");
    await limiter.hit("user:alice", 5, 1_000);
    await limiter.hit("user:alice", 5, 1_000);
    expect(await client.type(key)).toBe("hash");
    expect(await client.hget(key, "t")).toBe("2");
    const ttl = await client.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000 + 1_000 / SUB_WINDOWS + 1);
    await limiter.hit("user:alice", 5, 1_000, { consume: false });
    expect(await client.hget(key, "t")).toBe("2");
    await client.del(key);
  });

  it("holds at most S+3 fields and under 2 KB per key at 10,000 hits per window", async () => {
    // A 6 s window (100 ms sub-windows) filled as a minute at 10,000/min fills it: ~165 hits in
    // every sub-window. Field names and counts have as many digits as at 60 s.
    const W = 6_000;
    const subMs = W / SUB_WINDOWS;
    const limiter = new RedisRateLimiter(client, { namespace: "mem", ...PATIENT });
    const key = redisKeys("mem").rateLimit("k", W);
    let admitted = 0;
    for (let tick = 0; tick <= SUB_WINDOWS; tick++) {
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: 165 }, () => limiter.hit("k", 10_000, W)));
      admitted += results.filter((r) => r.allowed).length;
      await sleep(Math.max(0, subMs - (performance.now() - started)));
    }
    expect(admitted).toBeGreaterThan(9_000);
    expect(await client.hlen(key)).toBeLessThanOrEqual(SUB_WINDOWS + 3);
    const bytes = Number(await client.call("MEMORY", "USAGE", key));
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(2_048);
    await client.del(key);
  });

  it("over real time, admits at most L in any rolling window and denies only after L within the window plus one sub-window", async () => {
    // Redis's clock cannot be driven: record when each sequential hit was sent and answered, and
    // assert only what those bounds prove (the driven-clock property test is in memory.test.ts).
    const W = 1_000;
    const L = 25;
    const countedSpanMs = ((SUB_WINDOWS + 1) * subWindowUs(W)) / 1000;
    const limiter = new RedisRateLimiter(client, { namespace: "roll", ...PATIENT });
    const calls: Array<{ sent: number; answered: number; allowed: boolean }> = [];
    for (const end = performance.now() + 2.6 * W; performance.now() < end; ) {
      const sent = performance.now();
      const { allowed } = await limiter.hit("k", L, W);
      calls.push({ sent, answered: performance.now(), allowed });
      if (Math.random() < 0.8) await sleep(Math.random() * 20);
    }
    const admitted = calls.filter((c) => c.allowed);
    expect(admitted.length).toBeGreaterThan(2 * L);
    expect(calls.length - admitted.length).toBeGreaterThan(0);
    calls.forEach((c, i) => {
      const before = calls.slice(0, i).filter((p) => p.allowed);
      if (c.allowed) {
        // Hits certainly inside (t − W, t]: sent after this one was answered minus W.
        expect(before.filter((p) => c.answered - p.sent < W).length + 1).toBeLessThanOrEqual(L);
      } else {
        // Hits possibly inside the counted span: answered after this one was sent minus the span.
        expect(before.filter((p) => p.answered > c.sent - countedSpanMs).length).toBeGreaterThanOrEqual(L);
      }
    });
    await client.del(redisKeys("roll").rateLimit("k", W));
  });

  it("reloads the script after SCRIPT FLUSH (EVALSHA falls back to EVAL)", async () => {
    const limiter = new RedisRateLimiter(client, { namespace: "flush", ...PATIENT });
    expect((await limiter.hit("k", 5, 10_000)).remaining).toBe(4);
    await client.script("FLUSH");
    expect((await limiter.hit("k", 5, 10_000)).remaining).toBe(3);
    await client.del(redisKeys("flush").rateLimit("k", 10_000));
  });

  it("two limiters (two app instances) share the count atomically", async () => {
    const other = new Redis(server.url);
    try {
      const a = new RedisRateLimiter(client, { namespace: "shared", ...PATIENT });
      const b = new RedisRateLimiter(other, { namespace: "shared", ...PATIENT });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).hit("k", 30, 10_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(30);
      await client.del(redisKeys("shared").rateLimit("k", 10_000));
    } finally {
      other.disconnect();
    }
  });

  it("rejects an invalid namespace", () => {
    expect(() => redisKeys("has space")).toThrow(TypeError);
  });
});

/** A TCP relay to Redis that can hold each direction back by `delay.up` / `delay.down` ms. */
async function slowRelay(port: number): Promise<{ url: string; delay: { up: number; down: number }; close(): Promise<void> }> {
  const delay = { up: 0, down: 0 };
  const sockets = new Set<Socket>();
  const relay = (from: Socket, to: Socket, ms: () => number) =>
    from.on("data", (chunk) => {
      const wait = ms();
      if (wait === 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), wait);
    });
  const srv: Server = createServer((downstream) => {
    const upstream = createConnection({ host: "127.0.0.1", port });
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => (downstream.destroy(), upstream.destroy()));
    }
    relay(downstream, upstream, () => delay.up);
    relay(upstream, downstream, () => delay.down);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port: relayPort } = srv.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${relayPort}`,
    delay,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

describe("redis faults: a bounded wait, a circuit breaker, and nothing charged for a failed hit", () => {
  it("a hit whose command reaches Redis after its deadline counts nothing", async () => {
    const relay = await slowRelay(server.port);
    const c = new Redis(relay.url, { ...failFastRedisOptions });
    const scriptsRun = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info("commandstats"))?.[1] ?? 0);
    try {
      await c.ping();
      const limiter = new RedisRateLimiter(c, { namespace: "late-command", timeoutMs: 200 });
      const key = redisKeys("late-command").rateLimit("k", 60_000);
      await limiter.hit("k", 10, 60_000);
      await limiter.hit("k", 10, 60_000);
      relay.delay.up = 1_800; // commands arrive 1.8 s late: past the deadline (timeout + 1 s slack)
      const before = await scriptsRun();
      await expect(limiter.hit("k", 10, 60_000)).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(limiter.breaker.state).toBe("open");
      await eventually(async () => (await scriptsRun()) > before);
      // It ran and counted nothing (a refund, if one were needed, would still be 1.8 s away).
      expect(await scriptsRun()).toBe(before + 1);
      expect(await client.hget(key, "t")).toBe("2");
      await client.del(key);
    } finally {
      c.disconnect();
      await relay.close();
    }
  });

  it("a hit counted but answered after the timeout is refunded", async () => {
    const relay = await slowRelay(server.port);
    const c = new Redis(relay.url, { ...failFastRedisOptions });
    try {
      await c.ping();
      const limiter = new RedisRateLimiter(c, { namespace: "late-reply", timeoutMs: 200 });
      const key = redisKeys("late-reply").rateLimit("k", 60_000);
      await limiter.hit("k", 10, 60_000);
      await limiter.hit("k", 10, 60_000);
      relay.delay.down = 1_000; // the script runs at once, its reply comes back 1 s late
      await expect(limiter.hit("k", 10, 60_000)).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(await client.hget(key, "t")).toBe("3"); // counted for now
      await eventually(async () => (await client.hget(key, "t")) === "2");
      expect(await client.hget(key, "t")).toBe("2");
      await client.del(key);
    } finally {
      c.disconnect();
      await relay.close();
    }
  });

  it("while Redis hangs: the first hit fails within the timeout, later ones at once, nothing is charged, and a probe closes the breaker", async () => {
    const own = await startRedis();
    const c = new Redis(own.url, { ...failFastRedisOptions });
    const inspect = new Redis(own.url, { ...failFastRedisOptions });
    for (const r of [c, inspect]) r.on("error", () => {});
    const changes: BreakerState[] = [];
    const limiter = new RedisRateLimiter(c, { namespace: "hang", timeoutMs: 200, breaker: { backoffMs: 150, maxBackoffMs: 300, onChange: (s) => changes.push(s) } });
    const key = redisKeys("hang").rateLimit("k", 60_000);
    const scriptsRun = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await inspect.info("commandstats"))?.[1] ?? 0);
    const pid = Number(/process_id:(\d+)/.exec(await inspect.info("server"))![1]);
    let stopped = false;
    try {
      await c.ping();
      for (let i = 0; i < 3; i++) expect((await limiter.hit("k", 100, 60_000)).allowed).toBe(true);
      const before = await scriptsRun();

      process.kill(pid, "SIGSTOP");
      stopped = true;
      const started = performance.now();
      await expect(limiter.hit("k", 100, 60_000)).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(performance.now() - started).toBeLessThan(1_000); // generous: ioredis alone would wait 2 s
      expect(limiter.breaker.state).toBe("open");
      let failed = 0;
      for (const end = performance.now() + 1_000; performance.now() < end; ) {
        await expect(limiter.hit("k", 100, 60_000)).rejects.toBeInstanceOf(BackendUnavailableError);
        failed++;
        await sleep(5);
      }
      const probes = changes.filter((s) => s === "half_open").length;
      expect(probes).toBeGreaterThan(0);
      expect(failed).toBeGreaterThan(5 * probes); // most hits never reached Redis
      // The hang goes on past every deadline (the timeout plus 1 s of slack) and past ioredis's
      // 2 s command timeout: what was sent can no longer be refunded, only the deadline helps.
      await sleep(1_500);

      process.kill(pid, "SIGCONT");
      stopped = false;
      // Every script sent during the hang runs now, past its deadline.
      const sentDuringHang = 1 + probes;
      await eventually(async () => (await scriptsRun()) >= before + sentDuringHang);
      expect(await scriptsRun()).toBe(before + sentDuringHang);
      expect(await inspect.hget(key, "t")).toBe("3");

      // The next probe closes the breaker and counts again.
      let after = null;
      for (const end = Date.now() + 5_000; !after && Date.now() < end; await sleep(25)) after = await limiter.hit("k", 100, 60_000).catch(() => null);
      expect(after).toMatchObject({ allowed: true, remaining: 96 });
      expect(limiter.breaker.state).toBe("closed");
      expect(changes.at(-1)).toBe("closed");
    } finally {
      if (stopped) process.kill(pid, "SIGCONT");
      c.disconnect();
      inspect.disconnect();
      await own.stop();
    }
  });

  it("a stopped server: hits fail within the timeout, and a client that never reached a server fails the same way", async () => {
    const own = await startRedis();
    const c = new Redis(own.url, { ...failFastRedisOptions });
    c.on("error", () => {}); // reconnect noise
    try {
      // Patient: this test is about a stopped server, not the timeout (the first hit must succeed on a busy machine).
      const limiter = new RedisRateLimiter(c, { namespace: "down", ...PATIENT });
      expect((await limiter.hit("k", 5, 1_000)).allowed).toBe(true);
      await own.stop();
      const started = performance.now();
      const settled = await Promise.allSettled([limiter.hit("k", 5, 1_000), limiter.hit("k", 5, 1_000, { consume: false })]);
      for (const s of settled) {
        expect(s.status).toBe("rejected");
        if (s.status === "rejected") {
          expect(s.reason).toBeInstanceOf(BackendUnavailableError);
          expect((s.reason as BackendUnavailableError).backend).toBe("redis");
        }
      }
      // Fail-fast options (2 s); ioredis's defaults take over 10 s (20 reconnects). Generous: a loaded machine is slow.
      expect(performance.now() - started).toBeLessThan(8_000);
      // A client that never reached a server fails the same way.
      const never = new Redis(`redis://127.0.0.1:${CLOSED_PORT}`, { ...failFastRedisOptions });
      never.on("error", () => {});
      const t = performance.now();
      await expect(new RedisRateLimiter(never).hit("k", 1, 1_000)).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(performance.now() - t).toBeLessThan(8_000);
      never.disconnect();
    } finally {
      c.disconnect();
      await own.stop();
    }
  });
});
