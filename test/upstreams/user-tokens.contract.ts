// The per-user upstream token store contract (issue 12 §3), run against every backend by its own test file.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UpstreamTokensInvalidError, type UpstreamTokenStore, type UpstreamTokens } from "../../src/upstreams/user-tokens.js";
import type { Fixture, FixtureFactory } from "../support/fixtures.js";

export function upstreamTokens(userId: string, upstream: string, overrides: Partial<UpstreamTokens> = {}): UpstreamTokens {
  return { accessToken: `at-${userId}-${upstream}`, refreshToken: `rt-${userId}-${upstream}`, expiresAt: 1_900_000_000_123, scopes: ["mcp:read", "offline_access"], clientId: `client-${upstream}`, connectedAt: 1_899_000_000_456, issuer: "https://as.example.com", tokenEndpoint: "https://as.example.com/token", ...overrides };
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

    const put = (userId: string, upstream: string, overrides: Partial<UpstreamTokens> = {}) => store.put(userId, upstream, upstreamTokens(userId, upstream, overrides));

    it("gives back what was put, and null when not connected", async () => {
      // Tokens without an issuer are what was stored before it was recorded: they still read back.
      const minimal: UpstreamTokens = { accessToken: "at", scopes: [], clientId: "c" };
      await put("bob", "wiki");
      await store.put("bob", "tools", minimal);
      expect(await store.get("bob", "wiki")).toStrictEqual(upstreamTokens("bob", "wiki"));
      expect(await store.get("bob", "tools")).toStrictEqual(minimal);
      expect(await store.get("bob", "other")).toBeNull();
      expect(await store.get("alice", "wiki")).toBeNull();
    });

    it("keys by user and upstream, with no confusion between them", async () => {
      await store.put("a", "b-c", upstreamTokens("a", "b-c", { accessToken: "first" }));
      await store.put("a-b", "c", upstreamTokens("a-b", "c", { accessToken: "second" }));
      expect((await store.get("a", "b-c"))!.accessToken).toBe("first");
      expect((await store.get("a-b", "c"))!.accessToken).toBe("second");
      expect((await store.listByUser("a")).map((c) => c.upstream)).toEqual(["b-c"]);
    });

    it("replaces on put (a refresh), optional fields included", async () => {
      await put("bob", "wiki");
      const refreshed: UpstreamTokens = { accessToken: "at-2", scopes: ["mcp:read"], clientId: "client-2" };
      await store.put("bob", "wiki", refreshed);
      expect(await store.get("bob", "wiki")).toStrictEqual(refreshed);
      expect(await store.listByUser("bob")).toHaveLength(1);
    });

    it("deletes one connection, once", async () => {
      await put("bob", "wiki");
      await put("bob", "tools");
      await put("alice", "wiki");
      expect(await store.delete("bob", "wiki")).toBe(true);
      expect(await store.delete("bob", "wiki")).toBe(false);
      expect(await store.get("bob", "wiki")).toBeNull();
      expect(await store.get("bob", "tools")).not.toBeNull();
      expect(await store.get("alice", "wiki")).not.toBeNull();
    });

    it("lists a user's connections by upstream name, and only theirs", async () => {
      for (const upstream of ["wiki", "alpha", "tools"]) await put("bob", upstream);
      await put("bobby", "wiki");
      await put("alice", "wiki");
      const listed = await store.listByUser("bob");
      expect(listed.map((c) => c.upstream)).toEqual(["alpha", "tools", "wiki"]);
      expect(listed).toContainEqual({ upstream: "wiki", tokens: upstreamTokens("bob", "wiki") });
      expect(await store.listByUser("carol")).toEqual([]);
    });

    it("copies on write and on read", async () => {
      const tokens = upstreamTokens("bob", "wiki") as UpstreamTokens & { accessToken: string; scopes: string[] };
      await store.put("bob", "wiki", tokens);
      tokens.accessToken = "changed";
      tokens.scopes.push("admin");
      const read = (await store.get("bob", "wiki")) as typeof tokens;
      expect(read).toStrictEqual(upstreamTokens("bob", "wiki"));
      read.scopes.push("admin");
      read.accessToken = "changed";
      expect(await store.get("bob", "wiki")).toStrictEqual(upstreamTokens("bob", "wiki"));
      const [listed] = await store.listByUser("bob");
      (listed!.tokens.scopes as string[]).push("admin");
      expect(await store.get("bob", "wiki")).toStrictEqual(upstreamTokens("bob", "wiki"));
    });

    it("validates at the boundary, every problem at once, never quoting a token", async () => {
      const problems = await invalid(store.put("", "Wiki!", { accessToken: "", refreshToken: "", expiresAt: -1, scopes: [1], clientId: "", connectedAt: 1.5 } as never));
      for (const field of ["userId", "upstream", "tokens.accessToken", "tokens.refreshToken", "tokens.expiresAt", "tokens.scopes.0", "tokens.clientId", "tokens.connectedAt"]) {
        expect(problems.some((p) => p.startsWith(`${field}:`)), field).toBe(true);
      }
      const secretProblems = await invalid(store.put("bob", "wiki", { ...upstreamTokens("bob", "wiki", { accessToken: "secret-access" }), extra: "x" } as never));
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
          for (let i = 0; i < 20; i++) await put(`user-${w}`, `up-${i % 4}`, { accessToken: `at-${w}-${i}` });
        }),
      );
      for (let w = 0; w < 8; w++) {
        const listed = await store.listByUser(`user-${w}`);
        expect(listed.map((c) => [c.upstream, c.tokens.accessToken])).toEqual([0, 1, 2, 3].map((u) => [`up-${u}`, `at-${w}-${16 + u}`]));
      }
    });
  });
}
