import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OAuthEntry, OAuthStore } from "../../src/stores/types.js";
import { at, expectValidationError, type Fixture, type FixtureFactory } from "../support/fixtures.js";

export function entry(overrides: Partial<OAuthEntry> = {}): OAuthEntry {
  return { model: "AuthorizationCode", id: "a".repeat(64), payload: '{"kind":"AuthorizationCode"}', grant_id: "g1", uid: null, token_id: null, expires_at: at(60_000), ...overrides };
}

/**
 * `second`: the same storage through another connection (another replica), where the backend
 * has one. `expiresItself`: the backend's keys expire by themselves (Redis), so prune() has
 * nothing to do; such a backend tests its expiry times itself.
 */
export type OAuthStoreUnderTest = OAuthStore & { second?: OAuthStore; expiresItself?: boolean };

export function describeOAuthStoreContract(name: string, factory: FixtureFactory<OAuthStoreUnderTest>): void {
  describe(`OAuthStore contract: ${name}`, () => {
    let fx: Fixture<OAuthStoreUnderTest>;
    let store: OAuthStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("stores, replaces and finds an entry until it lapses", async () => {
      await store.upsert(entry());
      expect(await store.find("AuthorizationCode", "a".repeat(64), at(0))).toEqual({ entry: entry(), consumed_at: null });
      await store.upsert(entry({ payload: '{"v":2}' }));
      expect((await store.find("AuthorizationCode", "a".repeat(64), at(0)))?.entry.payload).toBe('{"v":2}');
      expect(await store.find("AuthorizationCode", "a".repeat(64), at(60_000))).toBeNull();
      expect(await store.find("RefreshToken", "a".repeat(64), at(0))).toBeNull();
      await store.upsert(entry({ model: "Client", id: "c1", grant_id: null, expires_at: null }));
      expect(await store.find("Client", "c1", at(10 ** 12))).not.toBeNull();
    });

    it("finds by uid within a model", async () => {
      await store.upsert(entry({ model: "Interaction", id: "i1", uid: "u1" }));
      expect((await store.findByUid("Interaction", "u1", at(0)))?.entry.id).toBe("i1");
      expect(await store.findByUid("Session", "u1", at(0))).toBeNull();
      expect(await store.findByUid("Interaction", "u2", at(0))).toBeNull();
    });

    it("consumes once, keeps the consumption across a replace, and never consumes an absent entry", async () => {
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(0))).toBe(false);
      await store.upsert(entry());
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(1))).toBe(true);
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(2))).toBe(false);
      expect((await store.find("AuthorizationCode", "a".repeat(64), at(3)))?.consumed_at).toEqual(at(1));
      await store.upsert(entry({ payload: "{}" }));
      expect((await store.find("AuthorizationCode", "a".repeat(64), at(3)))?.consumed_at).toEqual(at(1));
    });

    it("100 concurrent consumes of one entry (half through a second connection where there is one): exactly one succeeds", async () => {
      await store.upsert(entry());
      const other = fx.store.second ?? store;
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? other : store).consume("AuthorizationCode", "a".repeat(64), at(1))));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("destroys, and deletes a grant's entries of one model, returning them", async () => {
      await store.upsert(entry({ model: "AccessToken", id: "t1", token_id: "tok_1" }));
      await store.upsert(entry({ model: "AccessToken", id: "t2", token_id: "tok_2" }));
      await store.upsert(entry({ model: "AccessToken", id: "t3", grant_id: "g2" }));
      await store.upsert(entry({ model: "RefreshToken", id: "r1" }));
      const deleted = await store.deleteByGrant("AccessToken", "g1");
      expect(deleted.map((e) => e.token_id).sort()).toEqual(["tok_1", "tok_2"]);
      expect(await store.find("AccessToken", "t1", at(0))).toBeNull();
      expect(await store.find("AccessToken", "t3", at(0))).not.toBeNull();
      expect(await store.find("RefreshToken", "r1", at(0))).not.toBeNull();
      await store.destroy("RefreshToken", "r1");
      expect(await store.find("RefreshToken", "r1", at(0))).toBeNull();
    });

    it("keeps a consumption when its entry is destroyed or deleted with its grant: a re-created entry cannot be consumed again", async () => {
      await store.upsert(entry());
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(1))).toBe(true);
      await store.destroy("AuthorizationCode", "a".repeat(64));
      await store.upsert(entry());
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(2))).toBe(false);
      await store.deleteByGrant("AuthorizationCode", "g1");
      await store.upsert(entry());
      expect(await store.consume("AuthorizationCode", "a".repeat(64), at(3))).toBe(false);
    });

    it("prunes what lapsed, consumption included", async () => {
      if (fx.store.expiresItself) {
        await store.upsert(entry());
        expect(await store.prune(at(60_000))).toBe(0);
        return;
      }
      await store.upsert(entry());
      await store.consume("AuthorizationCode", "a".repeat(64), at(0));
      await store.upsert(entry({ model: "Client", id: "c1", expires_at: null }));
      expect(await store.prune(at(60_000))).toBe(1);
      expect(await store.find("Client", "c1", at(60_000))).not.toBeNull();
      await store.upsert(entry({ expires_at: at(120_000) }));
      expect((await store.find("AuthorizationCode", "a".repeat(64), at(0)))?.consumed_at).toBeNull();
    });

    it("validates entries and answers nothing for malformed keys", async () => {
      await expectValidationError(store.upsert(entry({ model: "Bad Model" })), "model");
      await expectValidationError(store.upsert(entry({ id: "" })), "id");
      await expectValidationError(store.upsert(entry({ payload: "x".repeat(70_000) })), "payload");
      await expectValidationError(store.upsert({ ...entry(), extra: 1 } as never), "extra");
      expect(await store.find("AuthorizationCode", { $ne: null } as never, at(0))).toBeNull();
      expect(await store.consume("AuthorizationCode", { $ne: null } as never, at(0))).toBe(false);
    });
  });
}
