// The adapter on the OAuth store, without the provider: what it keeps, for how long, and its
// single-use consume.
import { describe, expect, it } from "vitest";
import { CONSUMED_RETENTION_MS, oauthAdapter, UNUSED_CLIENT_TTL_MS } from "../../src/oauth/adapter.js";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { generateToken, hashToken } from "../../src/tokens/format.js";

const T0 = new Date("2030-01-01T00:00:00Z");

function setup() {
  let now = T0;
  const store = new MemoryOAuthStore();
  const created: string[] = [];
  const revoked: string[] = [];
  const { factory } = oauthAdapter({
    store,
    clock: () => now,
    accessTokens: {
      create: async (value) => (created.push(value), `tok_${created.length}`),
      revoke: async (ids) => void revoked.push(...ids),
    },
  });
  return { store, factory, created, revoked, advance: (ms: number) => void (now = new Date(now.getTime() + ms)) };
}

describe("the OAuth adapter", () => {
  it("keeps codes, tokens and sessions by the hash of their value only, and gives the value back on find", async () => {
    const { store, factory } = setup();
    await factory("AuthorizationCode").upsert("code-value", { jti: "code-value", grantId: "g1", exp: 1 }, 60);
    expect(await store.find("AuthorizationCode", "code-value", T0)).toBeNull();
    const stored = await store.find("AuthorizationCode", hashToken("code-value"), T0);
    expect(stored?.entry.payload).not.toContain("code-value");
    expect(await factory("AuthorizationCode").find("code-value")).toMatchObject({ jti: "code-value", grantId: "g1" });
    // A consumed code is remembered past its expiry, so that a late second use still revokes its grant.
    expect(stored?.entry.expires_at).toEqual(new Date(T0.getTime() + 60_000 + CONSUMED_RETENTION_MS));
  });

  it("finds a session by its uid (the provider's check when a second authorization starts), without giving back its id", async () => {
    const { factory } = setup();
    await factory("Session").upsert("session-cookie-value", { jti: "session-cookie-value", uid: "uid-1", accountId: "bob", exp: 2_000_000_000 }, 3600);
    const found = await factory("Session").findByUid("uid-1");
    expect(found).toMatchObject({ uid: "uid-1", accountId: "bob" });
    expect(found).not.toHaveProperty("jti");
    expect(JSON.stringify(found)).not.toContain("session-cookie-value");
    expect(await factory("Session").findByUid("uid-2")).toBeUndefined();
  });

  it("consume: once; the second use throws invalid_grant and revokes the grant's access tokens", async () => {
    const { factory, revoked } = setup();
    await factory("Grant").upsert("g1", { jti: "g1", accountId: "bob" }, 3600);
    await factory("AuthorizationCode").upsert("c1", { jti: "c1", grantId: "g1" }, 60);
    const a1 = generateToken("oauth_access").value;
    await factory("AccessToken").upsert(a1, { jti: a1, grantId: "g1", clientId: "client" }, 3600);
    expect(await factory("AccessToken").find(a1)).toMatchObject({ grantId: "g1" });
    await factory("AuthorizationCode").consume("c1");
    expect((await factory("AuthorizationCode").find("c1"))?.consumed).toBeTypeOf("number");
    await expect(factory("AuthorizationCode").consume("c1")).rejects.toMatchObject({ error: "invalid_grant" });
    expect(revoked).toEqual(["tok_1"]);
    expect(await factory("Grant").find("g1")).toBeUndefined();
    expect(await factory("AccessToken").find(a1)).toBeUndefined();
  });

  it("forgets a registered client unused for 30 days; each access token issued to it keeps it another 30", async () => {
    const { store, factory, advance } = setup();
    await factory("Client").upsert("client", { client_id: "client", client_name: "Agent" }, undefined);
    advance(UNUSED_CLIENT_TTL_MS - 1000);
    await factory("AccessToken").upsert("a1", { jti: "a1", grantId: "g1", clientId: "client" }, 3600);
    advance(2000);
    expect(await factory("Client").find("client")).toMatchObject({ client_name: "Agent" });
    advance(UNUSED_CLIENT_TTL_MS);
    expect(await factory("Client").find("client")).toBeUndefined();
    expect(await store.prune(new Date(T0.getTime() + 3 * UNUSED_CLIENT_TTL_MS))).toBeGreaterThan(0);
  });

  it("a token saved after its grant was revoked (a reuse racing on another replica) revokes itself and its record", async () => {
    const { factory, revoked } = setup();
    await factory("Grant").upsert("g1", { jti: "g1", accountId: "bob" }, 3600);
    await factory("RefreshToken").revokeByGrantId("g1"); // the provider's family revoke: the grant goes first
    expect(await factory("Grant").find("g1")).toBeUndefined();
    const a1 = generateToken("oauth_access").value;
    const r1 = generateToken("oauth_refresh").value;
    await factory("AccessToken").upsert(a1, { jti: a1, grantId: "g1", clientId: "client" }, 3600);
    await factory("RefreshToken").upsert(r1, { jti: r1, grantId: "g1", clientId: "client" }, 3600);
    expect(revoked).toEqual(["tok_1"]);
    expect(await factory("AccessToken").find(a1)).toBeUndefined();
    expect(await factory("RefreshToken").find(r1)).toBeUndefined();
  });
});
