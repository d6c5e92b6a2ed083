// The per-user upstream token store contract (issue 12 §3), run against every backend by its own test file.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UpstreamTokensInvalidError, type UpstreamTokenStore, type UpstreamTokens } from "../../src/upstreams/user-tokens.js";
import type { Fixture, FixtureFactory } from "../support/fixtures.js";

export function upstreamTokens(userId: string, upstream: string, overrides: Partial<UpstreamTokens> = {}): UpstreamTokens {
  return { userId, upstream, accessToken: `at-${userId}-${upstream}`, refreshToken: `rt-${userId}-${upstream}`, expiresAt: 1_900_000_000_123, scopes: ["mcp:read", "offline_access"], ...overrides };
}

async function invalid(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => expect.unreachable("expected UpstreamTokensInvalidError"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamTokensInvalidError);
  return [...(err as UpstreamTokensInvalidError).problems];
}

export function describeUpstreamTokenStoreContract(name: string, factory: FixtureFactory<UpstreamTokenStore>): void {
  describe(`UpstreamTokenStore contract: ${name}`, () => {
    let fx: Fixture<UpstreamTokenStore>;
    let store: UpstreamTokenStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("gives back what was put, and null when not connected", async () => {
      const full = upstreamTokens("bob", "wiki");
      const minimal: UpstreamTokens = { userId: "bob", upstream: "tools", accessToken: "at", scopes: [] };
      await store.put(full);
      await store.put(minimal);
      expect(await store.get("bob", "wiki")).toStrictEqual(full);
      expect(await store.get("bob", "tools")).toStrictEqual(minimal);
      expect(await store.get("bob", "other")).toBeNull();
      expect(await store.get("alice", "wiki")).toBeNull();
    });

    it("keys by user and upstream, with no confusion between them", async () => {
      await store.put(upstreamTokens("a", "b-c"));
      await store.put(upstreamTokens("a-b", "c"));
      expect((await store.get("a", "b-c"))!.accessToken).toBe("at-a-b-c");
      expect((await store.get("a-b", "c"))!.accessToken).toBe("at-a-b-c");
      expect((await store.get("a", "b-c"))!.userId).toBe("a");
      expect((await store.get("a-b", "c"))!.userId).toBe("a-b");
    });

    it("replaces on put (a refresh), optional fields included", async () => {
      await store.put(upstreamTokens("bob", "wiki"));
      const refreshed: UpstreamTokens = { userId: "bob", upstream: "wiki", accessToken: "at-2", scopes: ["mcp:read"] };
      await store.put(refreshed);
      expect(await store.get("bob", "wiki")).toStrictEqual(refreshed);
      expect(await store.listByUser("bob")).toHaveLength(1);
    });

    it("deletes one connection, once", async () => {
      await store.put(upstreamTokens("bob", "wiki"));
      await store.put(upstreamTokens("bob", "tools"));
      await store.put(upstreamTokens("alice", "wiki"));
      expect(await store.delete("bob", "wiki")).toBe(true);
      expect(await store.delete("bob", "wiki")).toBe(false);
      expect(await store.get("bob", "wiki")).toBeNull();
      expect(await store.get("bob", "tools")).not.toBeNull();
      expect(await store.get("alice", "wiki")).not.toBeNull();
    });

    it("lists a user's connections by upstream name, and only theirs", async () => {
      for (const upstream of ["wiki", "alpha", "tools"]) await store.put(upstreamTokens("bob", upstream));
      await store.put(upstreamTokens("bobby", "wiki"));
      await store.put(upstreamTokens("alice", "wiki"));
      expect((await store.listByUser("bob")).map((t) => t.upstream)).toEqual(["alpha", "tools", "wiki"]);
      expect(await store.listByUser("bob")).toContainEqual(upstreamTokens("bob", "wiki"));
      expect(await store.listByUser("carol")).toEqual([]);
    });

    it("copies on write and on read", async () => {
      const tokens = upstreamTokens("bob", "wiki") as UpstreamTokens & { accessToken: string; scopes: string[] };
      await store.put(tokens);
      tokens.accessToken = "changed";
      tokens.scopes.push("admin");
      const read = (await store.get("bob", "wiki")) as typeof tokens;
      expect(read).toStrictEqual(upstreamTokens("bob", "wiki"));
      read.scopes.push("admin");
      read.accessToken = "changed";
      expect(await store.get("bob", "wiki")).toStrictEqual(upstreamTokens("bob", "wiki"));
      const [listed] = (await store.listByUser("bob")) as (typeof tokens)[];
      listed!.scopes.push("admin");
      expect(await store.get("bob", "wiki")).toStrictEqual(upstreamTokens("bob", "wiki"));
    });

    it("validates at the boundary, every problem at once, never quoting a token", async () => {
      const problems = await invalid(store.put({ userId: "", upstream: "Wiki!", accessToken: "", refreshToken: "", expiresAt: -1, scopes: [1] } as never));
      for (const field of ["userId", "upstream", "accessToken", "refreshToken", "expiresAt", "scopes.0"]) expect(problems.some((p) => p.startsWith(`${field}:`)), field).toBe(true);
      const secretProblems = await invalid(store.put({ ...upstreamTokens("bob", "wiki", { accessToken: "secret-access" }), extra: "x" } as never));
      expect(secretProblems.join(" ")).not.toContain("secret-access");
      await invalid(store.get("", "wiki"));
      await invalid(store.get("bob", { $ne: null } as never));
      await invalid(store.delete("bob", "WIKI"));
      await invalid(store.listByUser({ $ne: null } as never));
      expect(await store.listByUser("bob")).toEqual([]);
    });

    it("keeps concurrent writers of different users and upstreams apart", async () => {
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; i < 20; i++) await store.put(upstreamTokens(`user-${w}`, `up-${i % 4}`, { accessToken: `at-${w}-${i}` }));
        }),
      );
      for (let w = 0; w < 8; w++) {
        const listed = await store.listByUser(`user-${w}`);
        expect(listed.map((t) => [t.upstream, t.accessToken])).toEqual([0, 1, 2, 3].map((u) => [`up-${u}`, `at-${w}-${16 + u}`]));
      }
    });
  });
}
