import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { McpSessionRef, McpSessionStore, RateLimiter } from "../../src/stores/types.js";
import { expectValidationError, type Fixture } from "../support/fixtures.js";

export interface McpSessionStoreFixture extends Fixture<McpSessionStore> {
  /** A rate limiter whose hits check sessions in this store (RateLimitOptions.session). */
  limiter: RateLimiter;
  /** Lets `ms` milliseconds pass: a fake clock for memory, a real sleep for Redis. */
  advance(ms: number): Promise<void>;
  /** How long `advance` may overshoot what the store measures (a real sleep on a loaded machine). */
  ttlMs: number;
}

const ref = (overrides: Partial<McpSessionRef> = {}): McpSessionRef => ({
  session_id: "3f1c9a7e-5b2d-4c8e-9f01-a2b3c4d5e6f7",
  partition: "user:alice",
  binding_id: "tok_aaaaaaaaaaaaaaaaaaaa",
  ttl_ms: 60_000,
  ...overrides,
});

export function describeMcpSessionStoreContract(name: string, factory: () => Promise<McpSessionStoreFixture>): void {
  describe(`McpSessionStore contract: ${name}`, () => {
    let fx: McpSessionStoreFixture;
    let sessions: McpSessionStore;
    beforeEach(async () => {
      fx = await factory();
      sessions = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("a bound session is the binding's alone, within its partition", async () => {
      await sessions.bind(ref());
      expect(await sessions.check(ref())).toBe("bound");
      expect(await sessions.check(ref({ binding_id: "tok_bbbbbbbbbbbbbbbbbbbb" }))).toBe("other");
      expect(await sessions.check(ref({ partition: "user:bob" }))).toBe("unknown");
      expect(await sessions.check(ref({ session_id: "another" }))).toBe("unknown");
      // Ids differing only in case or by a prefix are other sessions.
      expect(await sessions.check(ref({ session_id: "3F1C9A7E-5B2D-4C8E-9F01-A2B3C4D5E6F7" }))).toBe("unknown");
      expect(await sessions.check(ref({ session_id: "3f1c9a7e" }))).toBe("unknown");
    });

    it("binding again gives the session to the new binding", async () => {
      await sessions.bind(ref());
      await sessions.bind(ref({ binding_id: "grant_1" }));
      expect(await sessions.check(ref({ binding_id: "grant_1" }))).toBe("bound");
      expect(await sessions.check(ref())).toBe("other");
    });

    it("ends only for its own binding", async () => {
      await sessions.bind(ref());
      expect(await sessions.end(ref({ binding_id: "tok_bbbbbbbbbbbbbbbbbbbb" }))).toBe(false);
      expect(await sessions.end(ref({ partition: "user:bob" }))).toBe(false);
      expect(await sessions.check(ref())).toBe("bound");
      expect(await sessions.end(ref())).toBe(true);
      expect(await sessions.check(ref())).toBe("unknown");
      expect(await sessions.end(ref())).toBe(false);
    });

    it("keeps session ids with any visible ASCII apart, partitions with braces and colons too", async () => {
      const odd = ref({ session_id: "a}:{b/c=d", partition: "user:a}b{:c" });
      await sessions.bind(odd);
      expect(await sessions.check(odd)).toBe("bound");
      expect(await sessions.check(ref({ session_id: "b/c=d", partition: "user:a}b{:c:a}" }))).toBe("unknown");
    });

    it("expires a session unused for its lifetime, and each use starts the lifetime again", async () => {
      const ttl = fx.ttlMs;
      await sessions.bind(ref({ ttl_ms: ttl }));
      await sessions.bind(ref({ session_id: "idle", ttl_ms: ttl }));
      for (let i = 0; i < 4; i++) {
        await fx.advance(ttl / 2);
        expect(await sessions.check(ref({ ttl_ms: ttl }))).toBe("bound");
      }
      // Two lifetimes have passed: the idle one is gone, the used one is not.
      expect(await sessions.check(ref({ session_id: "idle", ttl_ms: ttl }))).toBe("unknown");
      await fx.advance(ttl * 2);
      expect(await sessions.check(ref({ ttl_ms: ttl }))).toBe("unknown");
    });

    it("a rate-limit hit checks the session in the same call, and counts either way", async () => {
      const limiter = fx.limiter;
      await sessions.bind(ref());
      const key = "mcp:default:{user:alice}";
      const mine = await limiter.hit(key, 3, 60_000, { session: ref() });
      expect(mine).toMatchObject({ allowed: true, remaining: 2, session: "bound" });
      const other = await limiter.hit(key, 3, 60_000, { session: ref({ binding_id: "tok_bbbbbbbbbbbbbbbbbbbb" }) });
      expect(other).toMatchObject({ allowed: true, remaining: 1, session: "other" });
      const unknown = await limiter.hit(key, 3, 60_000, { session: ref({ session_id: "nope" }) });
      expect(unknown).toMatchObject({ allowed: true, remaining: 0, session: "unknown" });
      const over = await limiter.hit(key, 3, 60_000, { session: ref() });
      expect(over).toMatchObject({ allowed: false, remaining: 0, session: "bound" });
      // Without a session to check the answer names none.
      expect((await limiter.hit(key, 3, 60_000, { consume: false })).session).toBeUndefined();
    });

    it("a hit's session check slides the session's lifetime", async () => {
      const ttl = fx.ttlMs;
      await sessions.bind(ref({ ttl_ms: ttl }));
      for (let i = 0; i < 4; i++) {
        await fx.advance(ttl / 2);
        expect((await fx.limiter.hit("mcp:default:{user:alice}", 100, 60_000, { session: ref({ ttl_ms: ttl }) })).session).toBe("bound");
      }
    });

    it("refuses malformed sessions at the boundary", async () => {
      await expectValidationError(sessions.bind(ref({ session_id: "" })), "session.session_id");
      await expectValidationError(sessions.check(ref({ session_id: "has space" })), "session.session_id");
      await expectValidationError(sessions.check(ref({ session_id: "x".repeat(257) })), "session.session_id");
      await expectValidationError(sessions.end(ref({ session_id: "é" })), "session.session_id");
      await expectValidationError(sessions.bind(ref({ binding_id: "" })), "session.binding_id");
      await expectValidationError(sessions.bind(ref({ partition: "" })), "session.partition");
      await expectValidationError(sessions.bind(ref({ ttl_ms: 0 })), "session.ttl_ms");
      await expectValidationError(sessions.bind(ref({ ttl_ms: 1.5 })), "session.ttl_ms");
      // The partition must be the key's hash tag: on a cluster they then share a slot.
      await expectValidationError(fx.limiter.hit("mcp:default:user:alice", 3, 60_000, { session: ref() }), "options.session.partition");
    });
  });
}
