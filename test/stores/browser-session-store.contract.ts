import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateError, type BrowserSessionStore } from "../../src/stores/types.js";
import { generateToken } from "../../src/tokens/format.js";
import { at, expectValidationError, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function describeBrowserSessionStoreContract(name: string, factory: FixtureFactory<BrowserSessionStore>): void {
  describe(`BrowserSessionStore contract: ${name}`, () => {
    let fx: Fixture<BrowserSessionStore>;
    let store: BrowserSessionStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    const hash = () => generateToken("temp").hash;
    /** A session of `user` from T0 until `expiresMs` after it. */
    const create = (h: string, user: string, expiresMs: number) => store.create({ hash: h, user_id: user, created_at: at(0), expires_at: at(expiresMs) });

    it("gives the session's user while it lasts, and null from its expiry on", async () => {
      const h = hash();
      await create(h, "alice", 60_000);
      expect(await store.get(h, at(0))).toEqual({ user_id: "alice" });
      expect(await store.get(h, at(59_999))).toEqual({ user_id: "alice" });
      expect(await store.get(h, at(60_000))).toBeNull();
      expect(await store.get(h, at(30_000))).toEqual({ user_id: "alice" }); // expiry is decided by the caller's clock
    });

    it("keeps sessions apart", async () => {
      const [a, b] = [hash(), hash()];
      await create(a, "alice", 60_000);
      await create(b, "bob", 60_000);
      expect(await store.get(a, at(1))).toEqual({ user_id: "alice" });
      expect(await store.get(b, at(1))).toEqual({ user_id: "bob" });
    });

    it("revokes a session at once, once", async () => {
      const [a, b] = [hash(), hash()];
      await create(a, "alice", 60_000);
      await create(b, "alice", 60_000);
      expect(await store.revoke(a)).toBe(true);
      expect(await store.get(a, at(1))).toBeNull();
      expect(await store.revoke(a)).toBe(false);
      expect(await store.get(b, at(1))).toEqual({ user_id: "alice" });
    });

    it("answers null (and false) for unknown and malformed hashes", async () => {
      expect(await store.get(hash(), at(0))).toBeNull();
      expect(await store.get("nope", at(0))).toBeNull();
      expect(await store.get({ $ne: null } as never, at(0))).toBeNull();
      expect(await store.revoke(hash())).toBe(false);
      expect(await store.revoke({ $ne: null } as never)).toBe(false);
    });

    it("rejects a duplicate hash, keeping the first session", async () => {
      const h = hash();
      await create(h, "alice", 60_000);
      await expect(create(h, "mallory", 60_000)).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.get(h, at(0))).toEqual({ user_id: "alice" });
    });

    it("prunes what expired, leaving live sessions", async () => {
      const [old, live] = [hash(), hash()];
      await create(old, "alice", 1_000);
      await create(live, "alice", 60_000);
      const pruned = await store.prune(at(1_000));
      expect(pruned === 0 || pruned === 1).toBe(true); // a backend that expires keys itself reports 0
      expect(await store.get(old, at(1_000))).toBeNull();
      expect(await store.get(live, at(1_000))).toEqual({ user_id: "alice" });
    });

    it("validates its input", async () => {
      await expectValidationError(create("abc", "alice", 1), "hash");
      await expectValidationError(create(hash(), "not valid", 1), "user_id");
      await expectValidationError(create(hash(), "alice", 0), "expires_at");
      await expectValidationError(store.create({ hash: hash(), user_id: "alice", created_at: new Date(Number.NaN), expires_at: at(1) }), "created_at");
      await expectValidationError(store.create({ hash: hash(), user_id: "alice", created_at: at(0), expires_at: at(1), extra: 1 } as never), "extra");
      await expectValidationError(store.get(hash(), "now" as never), "now");
      await expectValidationError(store.prune("now" as never), "now");
    });
  });
}
