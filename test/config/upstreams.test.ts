// TOLLGATE_UPSTREAMS and TOLLGATE_ENCRYPTION_KEYS as loadConfig reads them (issue 12 §1).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const list = (...upstreams: object[]) => ({ TOLLGATE_UPSTREAMS: JSON.stringify(upstreams), TOLLGATE_PUBLIC_URL: "https://tollgate.example.com" });
const wiki = { name: "wiki", prefix: "/api/wiki/", url: "https://wiki.internal/mcp", auth: "oauth", scopes: ["mcp:read", "offline_access"] };
const api = { name: "api", prefix: "/api/", url: "http://api.internal:8080", auth: "identity-headers" };
const key = () => randomBytes(32).toString("base64");
const PRODUCTION = {
  TOLLGATE_ENV: "production",
  MONGODB_URI: "mongodb://127.0.0.1:27017",
  REDIS_URL: "redis://127.0.0.1:6379",
  TOLLGATE_ADMIN_TOKEN: "a-real-admin-token-0123456789",
  TOLLGATE_JWT_SECRET: "a-real-secret-0123456789-0123456789-xyz",
};

describe("TOLLGATE_UPSTREAMS", () => {
  it("reads a list of upstreams", () => {
    const { upstreams } = loadConfig(list(api, wiki));
    expect(upstreams.map(({ url, ...u }) => ({ ...u, url: url.href }))).toEqual([
      { name: "api", prefix: "/api/", url: "http://api.internal:8080/", auth: "identity-headers", scopes: [] },
      { name: "wiki", prefix: "/api/wiki/", url: "https://wiki.internal/mcp", auth: "oauth", scopes: ["mcp:read", "offline_access"] },
    ]);
  });

  it("keeps TOLLGATE_UPSTREAM_URL as the shorthand for one identity-headers upstream under /api/, and refuses both", () => {
    const { upstreams } = loadConfig({ TOLLGATE_UPSTREAM_URL: "http://api.internal:8080/base" });
    expect(upstreams).toEqual([{ name: "default", prefix: "/api/", url: new URL("http://api.internal:8080/base"), auth: "identity-headers", scopes: [] }]);
    expect(loadConfig({}).upstreams).toEqual([]);
    expect(problems({ ...list(api), TOLLGATE_UPSTREAM_URL: "http://api.internal" })).toEqual([expect.stringMatching(/TOLLGATE_UPSTREAMS .* or TOLLGATE_UPSTREAM_URL .*not both/)]);
  });

  it("reports every problem of every entry at once", () => {
    const found = problems(
      list(
        { name: "Wiki!", prefix: "/wiki/", url: "ftp://wiki", auth: "basic" },
        { name: "a", prefix: "/api/a", url: "https://user:pw@a.internal", auth: "oauth" },
        { name: "a", prefix: "/api/b/", url: "https://b.internal?x=1", auth: "identity-headers", scopes: ["x"] },
        { name: "c", prefix: "/api/b/", url: "https://c.internal", auth: "oauth", scopes: ["has space"], extra: 1 },
        { name: "d", prefix: "/api/../", url: "https://d.internal", auth: "oauth" },
      ),
    ).join("\n");
    for (const expected of [
      /\[0\]\.name: must be 1-64 of a-z 0-9 -/,
      /\[0\]\.prefix: must be a path under \/api\/ ending in \//,
      /\[0\]\.url must be an http\(s\) URL/,
      /\[0\]\.auth/,
      /\[1\]\.prefix/,
      /\[1\]\.url must not carry a user name or password/,
      /\[2\]\.name: "a" is already upstream \[1\]'s/,
      /\[2\]\.url must not have a query or fragment/,
      /\[2\]\.scopes: applies only to auth "oauth"/,
      /\[3\]\.prefix: "\/api\/b\/" is already upstream \[2\]'s/,
      /\[3\]\.scopes\[0\]: must be an OAuth scope/,
      /\[3\]: .*extra/i,
      /\[4\]\.prefix/,
    ]) {
      expect(found).toMatch(expected);
    }
    expect(found).not.toContain("pw@");
  });

  it("refuses a prefix under or equal to Tollgate's tokens routes, and allows their parents", () => {
    for (const prefix of ["/api/v1/mcp/tokens/", "/api/v1/mcp/tokens/x/"]) {
      expect(problems(list({ ...api, prefix })).join("\n")).toMatch(/must not lie under \/api\/v1\/mcp\/tokens/);
    }
    for (const prefix of ["/api/", "/api/v1/", "/api/v1/mcp/", "/api/v1/mcp/tokensx/"]) expect(problems(list({ ...api, prefix }))).toEqual([]);
  });

  it("refuses what is not a non-empty JSON list", () => {
    expect(problems({ TOLLGATE_UPSTREAMS: "[{" }).join()).toMatch(/TOLLGATE_UPSTREAMS is not valid JSON/);
    expect(problems({ TOLLGATE_UPSTREAMS: "[]" }).join()).toMatch(/at least one upstream/);
    expect(problems({ TOLLGATE_UPSTREAMS: '{"name":"x"}' }).join()).toMatch(/TOLLGATE_UPSTREAMS/);
    expect(problems({ TOLLGATE_UPSTREAMS: "[1]" }).join()).toMatch(/TOLLGATE_UPSTREAMS\[0\]/);
  });

  it("needs TOLLGATE_PUBLIC_URL for an oauth upstream (its connect URL)", () => {
    const { TOLLGATE_UPSTREAMS } = list(wiki);
    expect(problems({ TOLLGATE_UPSTREAMS }).join()).toMatch(/needs TOLLGATE_PUBLIC_URL/);
    expect(problems({ TOLLGATE_UPSTREAMS: JSON.stringify([api]) })).toEqual([]);
  });
});

describe("TOLLGATE_ENCRYPTION_KEYS", () => {
  it("is read in order, the sealing key first", () => {
    const keys = loadConfig({ TOLLGATE_ENCRYPTION_KEYS: `k2:${key()},k1:${key()}` }).encryptionKeys;
    expect(keys.map((k) => k.kid)).toEqual(["k2", "k1"]);
    expect(loadConfig({}).encryptionKeys).toEqual([]);
    expect(problems({ TOLLGATE_ENCRYPTION_KEYS: `k1:${randomBytes(31).toString("base64")}` }).join()).toMatch(/"k1" must be 32 bytes/);
  });

  it("is required in production when an upstream uses oauth, and only then", () => {
    expect(problems({ ...PRODUCTION, ...list(api, wiki) }).join()).toMatch(/production requires TOLLGATE_ENCRYPTION_KEYS when an upstream uses oauth \(wiki\)/);
    expect(problems({ ...PRODUCTION, ...list(api, wiki), TOLLGATE_ENCRYPTION_KEYS: `k1:${key()}` })).toEqual([]);
    expect(problems({ ...PRODUCTION, ...list(api) })).toEqual([]);
    expect(problems(list(api, wiki))).toEqual([]);
  });
});
