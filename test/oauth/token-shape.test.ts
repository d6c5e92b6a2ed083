// OAuth access and refresh tokens are Tollgate tokens (src/tokens/format.ts): tg_oat_ and
// tg_ort_, 256 random bits, a checksum. A value with a bad checksum or of the wrong kind is
// refused at the gateway, the token endpoint and the revocation endpoint without a store read.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseToken } from "../../src/tokens/format.js";
import { issueTokens, mcpCall, startOAuthServer, stopDemoUpstream, tokenRequest, type OAuthServer } from "./support.js";

let as: OAuthServer;

beforeAll(async () => {
  as = await startOAuthServer();
});

afterAll(async () => {
  await as?.close();
  await stopDemoUpstream();
});

/** The value with its last checksum character changed. */
const badChecksum = (value: string): string => value.slice(0, -1) + (value.endsWith("0") ? "1" : "0");

/** Spies on every read of the token records and of the authorization server's token entries. */
function storeReads() {
  const tokenReads = vi.spyOn(as.tollgate.facts.tokenStore, "findByHash");
  const oauthReads = vi.spyOn(as.tollgate.backends.oauth, "find");
  return {
    tokenReads,
    /** Reads of AccessToken and RefreshToken entries (a client's lookup is not one). */
    tokenEntryReads: () => oauthReads.mock.calls.filter(([model]) => model === "AccessToken" || model === "RefreshToken"),
    restore() {
      tokenReads.mockRestore();
      oauthReads.mockRestore();
    },
  };
}

describe("OAuth token shape", () => {
  it("access tokens are tg_oat_…, refresh tokens tg_ort_…, both with a valid checksum; each works only where it belongs", async () => {
    const t = await issueTokens(as, "bob");
    expect(t.access_token).toMatch(/^tg_oat_[0-9A-Za-z]{49}$/);
    expect(t.refresh_token).toMatch(/^tg_ort_[0-9A-Za-z]{49}$/);
    expect(parseToken(t.access_token)).toEqual({ kind: "oauth_access" });
    expect(parseToken(t.refresh_token)).toEqual({ kind: "oauth_refresh" });
    expect((await mcpCall(as.url, "priv", t.access_token)).status).toBe(200);
    // A refresh token is never a bearer credential, and an access token is never a refresh token.
    expect((await mcpCall(as.url, "priv", t.refresh_token)).status).toBe(401);
    expect((await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: t.access_token, client_id: t.client.client_id })).body).toMatchObject({ error: "invalid_grant" });
    const refreshed = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: t.client.client_id });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(parseToken(refreshed.body.access_token)).toEqual({ kind: "oauth_access" });
    expect(parseToken(refreshed.body.refresh_token)).toEqual({ kind: "oauth_refresh" });
  });

  it("junk with a bad checksum is refused at the gateway, the token and the revocation endpoint without a store read", async () => {
    const t = await issueTokens(as, "bob");
    const reads = storeReads();
    try {
      const call = await mcpCall(as.url, "priv", badChecksum(t.access_token));
      expect(call.status).toBe(401);
      expect(call.headers.get("www-authenticate")).toContain("invalid_token");
      const refresh = await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: badChecksum(t.refresh_token), client_id: t.client.client_id });
      expect(refresh.body).toMatchObject({ error: "invalid_grant" });
      // The wrong kind, checksum valid: not looked up either.
      expect((await tokenRequest(as.url, { grant_type: "refresh_token", refresh_token: t.access_token, client_id: t.client.client_id })).body).toMatchObject({ error: "invalid_grant" });
      const revoke = await fetch(`${as.url}/oauth/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: badChecksum(t.access_token), client_id: t.client.client_id }).toString(),
      });
      expect(revoke.status).toBe(200); // RFC 7009 §2.2: an invalid token is not an error
      expect(reads.tokenReads).not.toHaveBeenCalled();
      expect(reads.tokenEntryReads()).toEqual([]);
    } finally {
      reads.restore();
    }
    // The real ones still work: the junk revoked nothing.
    expect((await mcpCall(as.url, "priv", t.access_token)).status).toBe(200);
  });
});
