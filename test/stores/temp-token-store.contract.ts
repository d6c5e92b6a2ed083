import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DuplicateError, type TempTokenStore } from "../../src/stores/types.js";
import { generateToken } from "../../src/tokens/format.js";
import { at, expectValidationError, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function describeTempTokenStoreContract(name: string, factory: FixtureFactory<TempTokenStore>): void {
  describe(`TempTokenStore contract: ${name}`, () => {
    let fx: Fixture<TempTokenStore>;
    let store: TempTokenStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    const hash = () => generateToken("temp").hash;

    it("consumes once", async () => {
      const h = hash();
      await store.create(h, "alice", at(60_000));
      expect(await store.consume(h, at(0))).toEqual({ user_id: "alice" });
      expect(await store.consume(h, at(0))).toBeNull();
    });

    it("100 concurrent consumes of one hash: exactly one succeeds", async () => {
      const h = hash();
      await store.create(h, "alice", at(60_000));
      const results = await Promise.all(Array.from({ length: 100 }, () => store.consume(h, at(1))));
      expect(results.filter((r) => r !== null)).toEqual([{ user_id: "alice" }]);
    });

    it("keeps tokens independent", async () => {
      const [a, b] = [hash(), hash()];
      await store.create(a, "alice", at(60_000));
      await store.create(b, "bob", at(60_000));
      expect(await store.consume(b, at(0))).toEqual({ user_id: "bob" });
      expect(await store.consume(a, at(0))).toEqual({ user_id: "alice" });
    });

    it("refuses an expired token (expiry checked at read time), also afterwards", async () => {
      const h = hash();
      await store.create(h, "alice", at(1_000));
      expect(await store.consume(h, at(1_000))).toBeNull(); // valid while now < expires_at
      expect(await store.consume(h, at(0))).toBeNull(); // gone: an expired attempt removes it
      const h2 = hash();
      await store.create(h2, "alice", at(1_000));
      expect(await store.consume(h2, at(999))).toEqual({ user_id: "alice" });
    });

    it("answers null for unknown and malformed hashes", async () => {
      expect(await store.consume(hash(), at(0))).toBeNull();
      expect(await store.consume("nope", at(0))).toBeNull();
      expect(await store.consume({ $ne: null } as never, at(0))).toBeNull();
    });

    it("rejects a duplicate hash", async () => {
      const h = hash();
      await store.create(h, "alice", at(60_000));
      await expect(store.create(h, "bob", at(60_000))).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.consume(h, at(0))).toEqual({ user_id: "alice" });
    });

    it("validates its input", async () => {
      await expectValidationError(store.create("abc", "alice", at(1)), "hash");
      await expectValidationError(store.create(hash(), "not valid", at(1)), "user_id");
      await expectValidationError(store.create(hash(), "alice", new Date(Number.NaN)), "expires_at");
      await expectValidationError(store.create(hash(), "alice", 5 as never), "expires_at");
      await expectValidationError(store.consume(hash(), "now" as never), "now");
    });

    it("does not alias the expiry date", async () => {
      const h = hash();
      const expires = at(1_000);
      await store.create(h, "alice", expires);
      expires.setTime(at(10_000).getTime());
      expect(await store.consume(h, at(5_000))).toBeNull();
    });
  });
}
