// The rate limiter's memory and cost (`make bench-limiter`, ~1.5 min): not a test, never fails on speed.
//
//   node --import tsx bench/limiter.ts
//
// 1. Redis memory per key (MEMORY USAGE) after one window at 1,000, 10,000 and 100,000 hits a
//    minute, spread evenly in real time over the window and one sub-window more, beside the
//    sorted set the old sliding log kept for the same hits (one member per hit).
// 2. Cost per hit: the memory backend with 1,000 and with 100,000 hits counted (O(1): the same),
//    and the Redis backend one hit at a time and 100 in flight, with Redis's own time per script.
//
// REDIS_URL: use that server (keys under bench-limiter:*, deleted afterwards); otherwise a
// redis-server is started on a free port. BENCH_LIMITER_WINDOW_MS (default 60000) shortens part 1:
// the key holds the same number of fields at any window.
import { loadavg } from "node:os";
import { Redis } from "ioredis";
import { MemoryRateLimiter } from "../src/stores/memory/rate-limiter.js";
import { SUB_WINDOWS } from "../src/stores/rate-window.js";
import { failFastRedisOptions } from "../src/stores/redis/client.js";
import { redisKeys } from "../src/stores/redis/keys.js";
import { RedisRateLimiter } from "../src/stores/redis/rate-limiter.js";
import { startRedis } from "../test/support/servers.js";

const NAMESPACE = "bench-limiter";
const WINDOW_MS = Number(process.env.BENCH_LIMITER_WINDOW_MS ?? 60_000);
const PER_MINUTE = [1_000, 10_000, 100_000];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const own = process.env.REDIS_URL ? null : await startRedis();
  const url = process.env.REDIS_URL ?? own!.url;
  const client = new Redis(url, { ...failFastRedisOptions, commandTimeout: 10_000 });
  const keys = redisKeys(NAMESPACE);
  // A generous timeout: this measures the limiter, not the fault handling.
  const limiter = new RedisRateLimiter(client, { namespace: NAMESPACE, timeoutMs: 5_000 });
  try {
    const info = await client.info("server");
    console.log(`date ${new Date().toISOString()}  load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}  node ${process.version}  redis ${/redis_version:(\S+)/.exec(info)?.[1]}`);

    // ---------------------------------------------------------------- 1. memory per key
    const subMs = WINDOW_MS / SUB_WINDOWS;
    console.log(`\n1. Redis memory per key: a ${WINDOW_MS / 1000} s window filled at each rate for ${fmt((WINDOW_MS + subMs) / 1000, 1)} s (real time)`);
    const perWindow = PER_MINUTE.map((m) => Math.round((m * WINDOW_MS) / 60_000));
    const sent = perWindow.map(() => 0);
    for (let tick = 0; tick <= SUB_WINDOWS; tick++) {
      const started = performance.now();
      await Promise.all(
        perWindow.map(async (n, i) => {
          const due = Math.round((n * (tick + 1)) / SUB_WINDOWS);
          for (; sent[i]! < due; ) {
            const batch = Math.min(500, due - sent[i]!);
            sent[i]! += batch;
            await Promise.all(Array.from({ length: batch }, () => limiter.hit(`rate-${i}`, 1_000_000, WINDOW_MS)));
          }
        }),
      );
      await sleep(Math.max(0, subMs - (performance.now() - started)));
    }
    console.log("| hits per minute | hits counted | hash fields | MEMORY USAGE (bytes) | old sliding log, same hits (bytes) |");
    console.log("|---:|---:|---:|---:|---:|");
    for (const [i, m] of PER_MINUTE.entries()) {
      const key = keys.rateLimit(`rate-${i}`, WINDOW_MS);
      const counted = Number(await client.hget(key, "t"));
      const fields = await client.hlen(key);
      const bytes = Number(await client.call("MEMORY", "USAGE", key));
      console.log(`| ${fmt(m)} | ${fmt(counted)} | ${fields} | ${fmt(bytes)} | ${fmt(await slidingLogBytes(client, counted))} |`);
      await client.del(key);
    }

    // ---------------------------------------------------------------- 2. cost per hit
    console.log("\n2. Cost per hit (one key, limit 1,000,000, 60 s window)");
    console.log("| backend | hits counted | µs per hit | note |");
    console.log("|---|---:|---:|---|");
    let now = 1_700_000_000_000;
    const memoryCost = async (memory: MemoryRateLimiter, hits: number) => {
      const started = performance.now();
      for (let i = 0; i < hits; i++) {
        if (i % 20 === 0) now += 1; // 20 hits a millisecond: many sub-windows, all still counted
        await memory.hit("k", 1_000_000, 60_000);
      }
      return ((performance.now() - started) * 1000) / hits;
    };
    await memoryCost(new MemoryRateLimiter({ now: () => now }), 300_000); // JIT warm-up: V8 needs ~100k calls here
    const memory = new MemoryRateLimiter({ now: () => now });
    const atStart = await memoryCost(memory, 10_000);
    await memoryCost(memory, 180_000);
    const atFull = await memoryCost(memory, 10_000);
    console.log(`| memory | 0–10,000 | ${fmt(atStart, 2)} | in-process, no I/O |`);
    console.log(`| memory | 190,000–200,000 | ${fmt(atFull, 2)} | the same work with 20× the hits counted |`);

    const before = await scriptStats(client);
    const sequential = 2_000;
    let started = performance.now();
    for (let i = 0; i < sequential; i++) await limiter.hit("cost", 1_000_000, 60_000);
    const oneAtATime = ((performance.now() - started) * 1000) / sequential;
    const concurrent = 20_000;
    started = performance.now();
    for (let i = 0; i < concurrent; i += 100) await Promise.all(Array.from({ length: 100 }, () => limiter.hit("cost", 1_000_000, 60_000)));
    const inFlight = ((performance.now() - started) * 1000) / concurrent;
    const after = await scriptStats(client);
    const serverUs = (after.usec - before.usec) / Math.max(1, after.calls - before.calls);
    console.log(`| redis, one at a time | up to ${fmt(sequential)} | ${fmt(oneAtATime, 1)} | round trip on loopback |`);
    console.log(`| redis, 100 in flight | up to ${fmt(sequential + concurrent)} | ${fmt(inFlight, 1)} | throughput: wall time ÷ hits |`);
    console.log(`| redis server, per script | – | ${fmt(serverUs, 1)} | INFO commandstats (evalsha) |`);
    await client.del(keys.rateLimit("cost", 60_000));

    // The old sliding log's script on the same load, for comparison (server time only).
    client.defineCommand("benchOldSlidingLog", { numberOfKeys: 1, lua: OLD_SLIDING_LOG_LUA });
    const old = client as Redis & { benchOldSlidingLog(key: string, limit: number, windowMs: number, consume: string, member: string): Promise<unknown> };
    const oldKey = `${NAMESPACE}:old-cost`;
    await old.benchOldSlidingLog(oldKey, 1_000_000, 60_000, "1", "warm-up");
    const oldBefore = await scriptStats(client);
    for (let i = 0; i < sequential + concurrent; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => old.benchOldSlidingLog(oldKey, 1_000_000, 60_000, "1", `m:${i + j}`)));
    }
    const oldAfter = await scriptStats(client);
    console.log(`| old sliding log server, per script | up to ${fmt(sequential + concurrent)} | ${fmt((oldAfter.usec - oldBefore.usec) / Math.max(1, oldAfter.calls - oldBefore.calls), 1)} | the script this limiter replaced |`);
    await client.del(oldKey);
  } finally {
    client.disconnect();
    await own?.stop();
  }
}

/** The sliding-log script the rolling window replaced (commit f68b269), kept here as the yardstick. */
const OLD_SLIDING_LOG_LUA = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window_us))
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  allowed = 1
  if ARGV[3] == '1' then
    redis.call('ZADD', key, string.format('%.0f', now), ARGV[4])
    redis.call('PEXPIRE', key, ARGV[2])
    count = count + 1
  end
end
local reset_ms = 0
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then
  reset_ms = math.ceil((tonumber(oldest[2]) + window_us - now) / 1000)
  if reset_ms < 0 then reset_ms = 0 end
end
return {allowed, count, reset_ms}
`;

/** MEMORY USAGE of the sorted set the old sliding-log limiter kept for `hits` counted hits. */
async function slidingLogBytes(client: Redis, hits: number): Promise<number> {
  const key = `${NAMESPACE}:old-log`;
  const nowUs = Date.now() * 1000;
  for (let i = 0; i < hits; i += 1_000) {
    const args: Array<string | number> = [];
    for (let j = i; j < Math.min(hits, i + 1_000); j++) args.push(nowUs - j * 60, `Xk3v9QaZ:${j}`);
    await client.zadd(key, ...args);
  }
  const bytes = Number(await client.call("MEMORY", "USAGE", key, "SAMPLES", "0"));
  await client.del(key);
  return bytes;
}

async function scriptStats(client: Redis): Promise<{ calls: number; usec: number }> {
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await client.info("commandstats"));
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}

await main();
