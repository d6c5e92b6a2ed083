// Each Redis Cluster master runs on its own host with its own clock, and the rate-limit script's
// deadline is in the clock of the master that runs it. A fake two-master cluster whose clocks lie
// two hours apart: the deadline each master receives must lie just ahead of that master's own
// time (the timeout plus the slack), never in its past (every hit refused as late) nor hours
// ahead (a command held on a socket would count long after Tollgate gave up).
import calculateSlot from "cluster-key-slot";
import { Cluster } from "ioredis";
import { describe, expect, it } from "vitest";
import { monotonicUs } from "../../src/stores/redis/clock.js";
import { redisKeys } from "../../src/stores/redis/keys.js";
import { RedisRateLimiter } from "../../src/stores/redis/rate-limiter.js";

const HOUR_US = 3_600e6;
const NODES = { a: "10.0.0.1:6379", b: "10.0.0.2:6379" } as const;
const SKEW_US: Record<string, number> = { [NODES.a]: -HOUR_US, [NODES.b]: HOUR_US };
/** Slots 0–8191 on a, the rest on b. */
const masterOfSlot = (slot: number): string => (slot < 8192 ? NODES.a : NODES.b);

/** Deadlines each master received, as (deadline − its own time then), µs. */
function fakeCluster(): { client: Cluster; headroom: Record<string, number[]> } {
  const headroom: Record<string, number[]> = { [NODES.a]: [], [NODES.b]: [] };
  const nodeNow = (key: string) => {
    const node = masterOfSlot(calculateSlot(key));
    return { node, now: Math.floor(monotonicUs() + 1e12 + SKEW_US[node]!) };
  };
  const fake = Object.assign(Object.create(Cluster.prototype) as object, {
    slots: Array.from({ length: 16384 }, (_, slot) => [masterOfSlot(slot)]),
    defineCommand() {},
    async tollgateKeyServerTime(key: string) {
      const { now } = nodeNow(key);
      return [String(Math.floor(now / 1e6)), String(now % 1e6)];
    },
    async tollgateRateHit(key: string, _limit: number, subUs: number, _consume: string, deadlineUs: number) {
      const { node, now } = nodeNow(key);
      headroom[node]!.push(deadlineUs - now);
      return now >= deadlineUs ? [-1, 0, 0, now, -1] : [1, 1, 1_000, now, Math.floor(now / subUs)];
    },
  });
  return { client: fake as unknown as Cluster, headroom };
}

/** A caller's key whose namespaced key lands on `node`. */
function keyOn(node: string): string {
  for (let i = 0; ; i++) if (masterOfSlot(calculateSlot(redisKeys("clk").rateLimit(`user:u${i}`, 60_000))) === node) return `user:u${i}`;
}

describe("rate limiter on a cluster whose masters' clocks disagree", () => {
  it("sends each master a deadline in its own time", async () => {
    const { client, headroom } = fakeCluster();
    const limiter = new RedisRateLimiter(client, { namespace: "clk", timeoutMs: 200 });
    const [onA, onB] = [keyOn(NODES.a), keyOn(NODES.b)];
    for (let i = 0; i < 3; i++) {
      expect((await limiter.hit(onA, 10, 60_000)).allowed).toBe(true);
      expect((await limiter.hit(onB, 10, 60_000)).allowed).toBe(true);
    }
    // The timeout (200 ms) plus the slack (1 s), less what the call took: never more, never past.
    for (const node of [NODES.a, NODES.b]) {
      expect(headroom[node]).toHaveLength(3);
      for (const us of headroom[node]!) {
        expect(us).toBeGreaterThan(0);
        expect(us).toBeLessThanOrEqual(1_200_000);
      }
    }
  });
});
