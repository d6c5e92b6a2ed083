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
    /** Creates a token expiring at `expiresMs`, at time `nowMs`, with at most `maxLive` live per user. */
    const create = (h: string, user: string, expiresMs: number, nowMs = 0, maxLive = 5) =>
      store.create({ hash: h, user_id: user, expires_at: at(expiresMs) }, { now: at(nowMs), maxLive });
    const created = { created: true };

    it("consumes once", async () => {
      const h = hash();
      expect(await create(h, "alice", 60_000)).toEqual(created);
      expect(await store.consume(h, at(0))).toEqual({ user_id: "alice" });
      expect(await store.consume(h, at(0))).toBeNull();
    });

    it("100 concurrent consumes of one hash: exactly one succeeds", async () => {
      const h = hash();
      await create(h, "alice", 60_000);
      const results = await Promise.all(Array.from({ length: 100 }, () => store.consume(h, at(1))));
      expect(results.filter((r) => r !== null)).toEqual([{ user_id: "alice" }]);
    });

    it("keeps tokens independent", async () => {
      const [a, b] = [hash(), hash()];
      await create(a, "alice", 60_000);
      await create(b, "bob", 60_000);
      expect(await store.consume(b, at(0))).toEqual({ user_id: "bob" });
      expect(await store.consume(a, at(0))).toEqual({ user_id: "alice" });
    });

    it("refuses an expired token (expiry checked at read time), also afterwards", async () => {
      const h = hash();
      await create(h, "alice", 1_000);
      expect(await store.consume(h, at(1_000))).toBeNull(); // valid while now < expires_at
      expect(await store.consume(h, at(0))).toBeNull(); // gone: an expired attempt removes it
      const h2 = hash();
      await create(h2, "alice", 1_000);
      expect(await store.consume(h2, at(999))).toEqual({ user_id: "alice" });
    });

    it("answers null for unknown and malformed hashes", async () => {
      expect(await store.consume(hash(), at(0))).toBeNull();
      expect(await store.consume("nope", at(0))).toBeNull();
      expect(await store.consume({ $ne: null } as never, at(0))).toBeNull();
    });

    it("rejects a duplicate hash", async () => {
      const h = hash();
      await create(h, "alice", 60_000);
      await expect(create(h, "bob", 60_000)).rejects.toBeInstanceOf(DuplicateError);
      expect(await store.consume(h, at(0))).toEqual({ user_id: "alice" });
    });

    it("validates its input", async () => {
      await expectValidationError(create("abc", "alice", 1), "hash");
      await expectValidationError(create(hash(), "not valid", 1), "user_id");
      await expectValidationError(store.create({ hash: hash(), user_id: "alice", expires_at: new Date(Number.NaN) }, { now: at(0), maxLive: 5 }), "expires_at");
      await expectValidationError(store.create({ hash: hash(), user_id: "alice", expires_at: 5 as never }, { now: at(0), maxLive: 5 }), "expires_at");
      await expectValidationError(store.create({ hash: hash(), user_id: "alice", expires_at: at(1) }, { now: "now" as never, maxLive: 5 }), "now");
      await expectValidationError(create(hash(), "alice", 1, 0, 0), "maxLive");
      await expectValidationError(create(hash(), "alice", 1, 0, 1.5), "maxLive");
      await expectValidationError(store.consume(hash(), "now" as never), "now");
      await expectValidationError(store.peek(hash(), "now" as never), "now");
      await expectValidationError(store.prune("now" as never), "now");
    });

    it("does not alias the expiry date", async () => {
      const h = hash();
      const expires = at(1_000);
      await store.create({ hash: h, user_id: "alice", expires_at: expires }, { now: at(0), maxLive: 5 });
      expires.setTime(at(10_000).getTime());
      expect(await store.consume(h, at(5_000))).toBeNull();
    });

    describe("peek", () => {
      it("tells the owner without consuming, as often as asked", async () => {
        const h = hash();
        await create(h, "auth0|alice", 60_000);
        expect(await store.peek(h, at(0))).toEqual({ user_id: "auth0|alice" });
        expect(await store.peek(h, at(59_999))).toEqual({ user_id: "auth0|alice" });
        expect(await store.consume(h, at(1))).toEqual({ user_id: "auth0|alice" });
        expect(await store.peek(h, at(1))).toBeNull();
      });

      it("answers null for expired, unknown and malformed hashes", async () => {
        const h = hash();
        await create(h, "alice", 1_000);
        expect(await store.peek(h, at(1_000))).toBeNull();
        expect(await store.peek(hash(), at(0))).toBeNull();
        expect(await store.peek("nope", at(0))).toBeNull();
        expect(await store.peek({ $ne: null } as never, at(0))).toBeNull();
        expect(await store.consume(h, at(999))).toEqual({ user_id: "alice" }); // peeking at it expired did not remove it
      });
    });

    describe("live tokens per user", () => {
      it("stores at most maxLive live tokens per user and names when the oldest lapses", async () => {
        for (let i = 0; i < 5; i++) expect(await create(hash(), "alice", 60_000 + i * 1_000)).toEqual(created);
        const refused = hash();
        expect(await create(refused, "alice", 90_000, 10)).toEqual({ created: false, oldest_expires_at: at(60_000) });
        expect(await store.peek(refused, at(10))).toBeNull(); // nothing stored
        expect(await create(hash(), "bob", 60_000)).toEqual(created); // per user
      });

      it("frees a place when a token is consumed or expires", async () => {
        const hashes = Array.from({ length: 3 }, hash);
        for (const [i, h] of hashes.entries()) await create(h, "alice", 10_000 * (i + 1), 0, 3);
        expect(await create(hash(), "alice", 50_000, 0, 3)).toMatchObject({ created: false });
        await store.consume(hashes[1]!, at(0));
        expect(await create(hash(), "alice", 50_000, 0, 3)).toEqual(created);
        expect(await create(hash(), "alice", 50_000, 0, 3)).toEqual({ created: false, oldest_expires_at: at(10_000) });
        // At 10 s the first one has lapsed: it no longer counts.
        expect(await create(hash(), "alice", 60_000, 10_000, 3)).toEqual(created);
        expect(await create(hash(), "alice", 60_000, 10_000, 3)).toEqual({ created: false, oldest_expires_at: at(30_000) });
      });

      it("20 concurrent creates for one user: exactly maxLive are stored", async () => {
        const hashes = Array.from({ length: 20 }, hash);
        const results = await Promise.all(hashes.map((h, i) => create(h, "alice", 60_000 + i)));
        expect(results.filter((r) => r.created)).toHaveLength(5);
        const live = await Promise.all(hashes.map((h) => store.peek(h, at(1))));
        expect(live.filter((r) => r !== null)).toHaveLength(5);
      });
    });

    describe("prune", () => {
      it("deletes expired tokens only, and says how many", async () => {
        const [old1, old2, live] = [hash(), hash(), hash()];
        await create(old1, "alice", 1_000);
        await create(old2, "bob", 2_000);
        await create(live, "alice", 60_000);
        expect(await store.prune(at(2_000))).toBe(2);
        expect(await store.prune(at(2_000))).toBe(0);
        expect(await store.consume(live, at(2_000))).toEqual({ user_id: "alice" });
      });
    });
  });
}
