import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerState } from "../../src/stores/circuit-breaker.js";
import { RedisClockOffset } from "../../src/stores/redis/clock.js";

describe("CircuitBreaker", () => {
  function breaker() {
    let now = 0;
    const changes: BreakerState[] = [];
    const b = new CircuitBreaker({ backoffMs: 100, maxBackoffMs: 300, now: () => now, onChange: (s) => changes.push(s) });
    return { b, changes, advance: (ms: number) => (now += ms) };
  }

  it("lets calls through while closed and fails them at once after a failure, until the backoff is over", () => {
    const { b, advance } = breaker();
    const first = b.acquire()!;
    const second = b.acquire()!;
    expect(first.probe).toBe(false);
    b.failed(first);
    expect(b.state).toBe("open");
    b.failed(second); // a call let through earlier failing too does not extend the wait
    advance(99);
    expect(b.acquire()).toBeNull();
    advance(1);
    expect(b.acquire()).toMatchObject({ probe: true });
  });

  it("sends one probe at a time; a failed probe doubles the wait up to the maximum, a good one closes", () => {
    const { b, changes, advance } = breaker();
    b.failed(b.acquire()!);
    for (const wait of [100, 200, 300, 300]) {
      advance(wait - 1);
      expect(b.acquire()).toBeNull();
      advance(1);
      const probe = b.acquire()!;
      expect(probe.probe).toBe(true);
      expect(b.state).toBe("half_open");
      expect(b.acquire()).toBeNull(); // only one probe
      b.failed(probe);
    }
    advance(300);
    const probe = b.acquire()!;
    b.succeeded({ probe: false }); // a straggler's success proves nothing
    expect(b.state).toBe("half_open");
    b.succeeded(probe);
    expect(b.state).toBe("closed");
    expect(b.acquire()).toMatchObject({ probe: false });
    // Closed again: the next failure waits the first backoff, not the last one.
    b.failed(b.acquire()!);
    advance(100);
    expect(b.acquire()).toMatchObject({ probe: true });
    expect(changes.slice(0, 3)).toEqual(["open", "half_open", "open"]);
    expect(changes.filter((s) => s === "closed")).toHaveLength(1);
  });
});

describe("RedisClockOffset", () => {
  it("errs low whatever the clocks' difference, and follows a clock that steps back", () => {
    for (const trueOffset of [3 * 3_600e6, -5e6, 0]) {
      const offset = new RedisClockOffset();
      expect(offset.us).toBeNull();
      // Replies with round trips of 5000, 300 and 2000 µs, Redis reading its clock mid-way.
      for (const [sent, rtt] of [[1_000, 5_000], [20_000, 300], [40_000, 2_000]] as const) {
        offset.sample(sent, sent + rtt / 2 + trueOffset, sent + rtt);
        expect(offset.us!).toBeLessThanOrEqual(trueOffset);
      }
      expect(offset.us!).toBe(trueOffset - 150); // the tightest reply bounds it best
      // Redis's clock steps back a second: the first reply proving the estimate too high resets it.
      offset.sample(60_000, 60_100 + trueOffset - 1e6, 60_200);
      expect(offset.us!).toBeLessThanOrEqual(trueOffset - 1e6);
      expect(offset.us!).toBe(trueOffset - 1e6 - 100);
    }
  });
});
