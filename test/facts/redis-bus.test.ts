// The Redis invalidation bus against a fake Redis (the real one: test/integration/invalidation.test.ts).
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ChangeEvent, IgnoredReason, InvalidationObserver, SubscriptionState } from "../../src/facts/invalidation.js";
import { RedisInvalidationBus } from "../../src/stores/redis/invalidation-bus.js";

/** Publish loops back to the subscriber while `connected`; `failures` publishes reject first. */
class FakeRedis extends EventEmitter {
  connected = true;
  failures = 0;
  sent: Array<{ channel: string; message: string }> = [];
  subscribed: string[] = [];
  async publish(channel: string, message: string): Promise<number> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("connection lost");
    }
    this.sent.push({ channel, message });
    if (this.connected) queueMicrotask(() => this.emit("message", channel, message));
    return 1;
  }
  async subscribe(channel: string): Promise<number> {
    this.subscribed.push(channel);
    return 1;
  }
  disconnect(): void {}
}

function recorder() {
  const seen = { published: [] as string[], applied: [] as string[], ignored: [] as IgnoredReason[], states: [] as SubscriptionState[], lags: [] as Array<number | null> };
  const observer: InvalidationObserver = {
    published: (kind, result) => void seen.published.push(`${kind}:${result}`),
    applied: (kind, lag) => {
      seen.applied.push(kind);
      seen.lags.push(lag);
    },
    ignored: (reason) => void seen.ignored.push(reason),
    subscription: (state) => void seen.states.push(state),
  };
  return { seen, observer };
}

function makeBus(redis = new FakeRedis(), namespace = "ns1") {
  const { seen, observer } = recorder();
  const r = redis as unknown as Redis;
  const bus = new RedisInvalidationBus(r, r, { namespace, heartbeatMs: 1_000, observer });
  const events: ChangeEvent[] = [];
  bus.onChange((e) => events.push(e));
  return { bus, redis, seen, events };
}

const valid = { v: 1, kind: "token", id: "a".repeat(64), origin: "elsewhere", seq: 1, ts: Date.now() };

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe("RedisInvalidationBus.handleMessage", () => {
  it("applies a valid message from any origin and counts it with its lag", () => {
    const { bus, seen, events } = makeBus();
    expect(bus.channel).toBe("ns1:invalidate");
    bus.handleMessage("ns1:invalidate", JSON.stringify({ ...valid, ts: Date.now() - 20 }));
    bus.handleMessage("ns1:invalidate", JSON.stringify({ ...valid, kind: "collaborator", id: "p1/alice", origin: bus.origin }));
    expect(events).toEqual([
      { kind: "token", id: valid.id },
      { kind: "collaborator", id: "p1/alice" },
    ]);
    expect(seen.applied).toEqual(["token", "collaborator"]);
    expect(seen.lags[0]).toBeCloseTo(0.02, 3);
  });

  it("drops and counts what is not a v1 message on its channel, and never throws", () => {
    const { bus, seen, events } = makeBus();
    const cases: Array<[string, string, IgnoredReason]> = [
      ["tollgate:invalidate", JSON.stringify(valid), "wrong_channel"],
      ["ns1:invalidate", "{not json", "malformed"],
      ["ns1:invalidate", "null", "malformed"],
      ["ns1:invalidate", "[1]", "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, v: 2 }), "unknown_version"],
      ["ns1:invalidate", JSON.stringify({ ...valid, kind: "role" }), "unknown_kind"],
      ["ns1:invalidate", JSON.stringify({ ...valid, kind: 7 }), "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, id: "" }), "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, id: "x".repeat(513) }), "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, origin: undefined }), "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, seq: "1" }), "malformed"],
      ["ns1:invalidate", JSON.stringify({ ...valid, ts: null }), "malformed"],
    ];
    for (const [channel, raw] of cases) expect(() => bus.handleMessage(channel, raw)).not.toThrow();
    expect(seen.ignored).toEqual(cases.map(([, , reason]) => reason));
    expect(events).toEqual([]);
  });

  it("passes on keys only: a forged fact (\"revoked\") is not believed, the entry is only dropped", () => {
    const { bus, events } = makeBus();
    bus.handleMessage("ns1:invalidate", JSON.stringify({ ...valid, revoked: true, extra: "ignored" }));
    expect(events).toEqual([{ kind: "token", id: valid.id }]);
  });

  it("a listener that throws does not stop the others nor the handler", () => {
    const { bus, events } = makeBus();
    bus.onChange(() => {
      throw new Error("boom");
    });
    const after: ChangeEvent[] = [];
    bus.onChange((e) => after.push(e));
    expect(() => bus.handleMessage("ns1:invalidate", JSON.stringify(valid))).not.toThrow();
    expect(events).toHaveLength(1);
    expect(after).toHaveLength(1);
  });
});

describe("RedisInvalidationBus heartbeats", () => {
  it("is down until it hears its own heartbeat, down after 3 missed, and up again when one arrives", async () => {
    const { bus, redis, seen } = makeBus();
    const states: SubscriptionState[] = [];
    bus.onState((s) => states.push(s));
    bus.start();
    expect(redis.subscribed).toEqual(["ns1:invalidate"]);
    expect(bus.state).toBe("down");
    await vi.advanceTimersByTimeAsync(0);
    expect(bus.state).toBe("up");

    // Another process's heartbeat does not count.
    redis.connected = false;
    const foreign = setInterval(() => bus.handleMessage("ns1:invalidate", JSON.stringify({ ...valid, kind: "heartbeat", id: "other", origin: "other", ts: Date.now() })), 500);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(bus.state).toBe("up");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(bus.state).toBe("down");
    clearInterval(foreign);

    redis.connected = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(bus.state).toBe("up");
    expect(states).toEqual(["up", "down", "up"]);
    expect(seen.states).toEqual(["down", "up", "down", "up"]);
    expect(seen.ignored).toEqual([]);
    await bus.close();
  });
});

describe("RedisInvalidationBus.publish", () => {
  it("sends keys only, with origin, sequence and time (a revocation too)", async () => {
    const { bus, redis, seen } = makeBus();
    bus.publish({ kind: "user", id: "alice" });
    bus.publish({ kind: "project", id: "p1" });
    bus.publish({ kind: "token", id: "h", revoked: true });
    await vi.advanceTimersByTimeAsync(0);
    const messages = redis.sent.map((s) => JSON.parse(s.message));
    expect(redis.sent.every((s) => s.channel === "ns1:invalidate")).toBe(true);
    expect(messages).toEqual([
      { v: 1, kind: "user", id: "alice", origin: bus.origin, seq: 1, ts: Date.now() },
      { v: 1, kind: "project", id: "p1", origin: bus.origin, seq: 2, ts: Date.now() },
      { v: 1, kind: "token", id: "h", origin: bus.origin, seq: 3, ts: Date.now() },
    ]);
    expect(seen.published).toEqual(["user:ok", "project:ok", "token:ok"]);
  });

  it("retries a failed publish and counts it; gives up after the last retry without throwing", async () => {
    const redis = new FakeRedis();
    const { bus, seen } = makeBus(redis);
    redis.failures = 2;
    expect(() => bus.publish({ kind: "token", id: "h1" })).not.toThrow();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(seen.published).toEqual(["token:retried"]);
    expect(redis.sent).toHaveLength(1);

    redis.failures = 100;
    bus.publish({ kind: "token", id: "h2" });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(seen.published).toEqual(["token:retried", "token:failed"]);
    expect(redis.failures).toBe(100 - 4); // the first attempt and three retries
  });
});
