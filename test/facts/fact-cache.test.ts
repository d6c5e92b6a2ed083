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

  it("remembers a bounded number of invalidations, and refuses fills older than the ones it forgot", () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    const old = cache.ticket();
    cache.invalidate("a");
    for (let i = 0; i < 10_000; i++) cache.invalidate(`k${i}`); // "a" is forgotten now
    cache.fill("a", old, 1);
    cache.fill("z", old, 1); // never invalidated, but older than a forgotten invalidation: not stored
    expect(cache.peek("t", "a")).toBeUndefined();
    expect(cache.peek("t", "z")).toBeUndefined();
    cache.fill("z", cache.ticket(), 2);
    expect(cache.peek("t", "z")?.value).toBe(2);
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

  it("hands out copies: changing what was served does not change the cache", async () => {
    const cache = new FactCache({ ttlMs: 60_000 });
    const first = await cache.read("t", "k", async () => ({ role: "admin" }));
    first.role = "changed";
    expect(await cache.read("t", "k", async () => ({ role: "never read" }))).toEqual({ role: "admin" });
  });
});
