import { describe, expect, it } from "vitest";
import { FactCache } from "../../src/facts/fact-cache.js";

describe("FactCache fill tickets", () => {
  it("stores a fill unless its key was invalidated after the ticket was taken", () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    const before = cache.ticket();
    cache.invalidate("a");
    cache.fill("a", before, 1); // read before the invalidation: dropped
    cache.fill("b", before, 2); // another key: stored
    cache.fill("a", cache.ticket(), 3); // read after: stored
    expect(cache.peek("t", "a")?.value).toBe(3);
    expect(cache.peek("t", "b")?.value).toBe(2);
  });

  it("remembers at most revocationsMax changes; forgets the oldest once it is older than the TTL, refusing fills from before it", () => {
    let now = 0;
    const cache = new FactCache({ ttlMs: 60_000, revocationsMax: 3, now: () => now });
    const old = cache.ticket();
    cache.invalidate("a");
    now = 1;
    cache.invalidate("k1");
    cache.invalidate("k2");
    cache.fill("keep", cache.ticket(), 1);
    now = 60_000; // "a" is as old as the TTL now
    cache.invalidate("k3"); // full: "a" is forgotten, not the cache
    expect(cache.remembered).toBe(3);
    expect(cache.peek("t", "keep")?.value).toBe(1);
    cache.fill("a", old, 1);
    cache.fill("z", old, 1); // never changed, but older than a forgotten change: not stored
    expect(cache.peek("t", "a")).toBeUndefined();
    expect(cache.peek("t", "z")).toBeUndefined();
    cache.fill("z", cache.ticket(), 2);
    expect(cache.peek("t", "z")?.value).toBe(2);
  });

  it("when the oldest remembered change is younger than the TTL, clears the cache instead of forgetting it", () => {
    let now = 0;
    let cleared = 0;
    const counters = { hit: () => {}, miss: () => {}, overflowCleared: () => void cleared++ };
    const cache = new FactCache({ ttlMs: 60_000, revocationsMax: 2, now: () => now, counters });
    cache.revoke("token\0h1", new Date(5), (v) => v);
    cache.invalidate("k1");
    cache.fill("cached", cache.ticket(), 1);
    const during = cache.ticket(); // a read under way
    now = 59_999;
    cache.invalidate("k2"); // full, and "h1" is younger than the TTL
    expect(cleared).toBe(1);
    expect(cache.size).toBe(0);
    expect(cache.remembered).toBe(1); // k2 only: the revocation went with the cache
    expect(cache.revokedAt("token\0h1")).toBeNull();
    cache.fill("late", during, 2); // the read under way loses
    expect(cache.peek("t", "late")).toBeUndefined();
  });

  it("a revocation revises the cached entry in place, stays when the key is invalidated again, and a late fill loses", () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    cache.fill("k", cache.ticket(), { revoked_at: null, name: "n" });
    const before = cache.ticket();
    cache.revoke("k", new Date(7), (v) => ({ ...(v as object), revoked_at: "revised" }));
    expect(cache.peek("t", "k")?.value).toEqual({ revoked_at: "revised", name: "n" });
    expect(cache.revokedAt("k")).toEqual(new Date(7));
    cache.fill("k", before, { revoked_at: null, name: "n" }); // a read from before the revocation
    expect(cache.peek("t", "k")?.value).toEqual({ revoked_at: "revised", name: "n" });
    cache.invalidate("k"); // e.g. a rename of the revoked token
    expect(cache.peek("t", "k")).toBeUndefined();
    expect(cache.revokedAt("k")).toEqual(new Date(7));
    cache.revoke("k", new Date(9), (v) => v); // the first revocation time stands
    expect(cache.revokedAt("k")).toEqual(new Date(7));
  });

  it("clear() drops every entry and every fill under way", () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    cache.fill("a", cache.ticket(), 1);
    const during = cache.ticket();
    cache.clear();
    expect(cache.size).toBe(0);
    cache.fill("b", during, 2);
    expect(cache.peek("t", "b")).toBeUndefined();
  });

  it("no caller can change what others are served: the filler keeps its own value, hits are frozen", async () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    const first = await cache.read("t", "k", async () => ({ role: "admin", scopes: ["read"] }));
    first.role = "changed";
    first.scopes.push("write");
    const hit = await cache.read("t", "k", async () => ({ role: "never read", scopes: [] as string[] }));
    expect(hit).toEqual({ role: "admin", scopes: ["read"] });
    expect(() => {
      hit.role = "changed";
    }).toThrow(TypeError);
    expect(() => hit.scopes.push("write")).toThrow(TypeError);
    expect(cache.peek("t", "k")?.value).toEqual({ role: "admin", scopes: ["read"] });
  });
});
