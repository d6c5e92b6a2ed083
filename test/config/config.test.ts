import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_AUDIT_REDACT_KEYS, DEFAULT_RATE_LIMITS, DEV_JWT_SECRET, loadConfig } from "../../src/config/config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const PRODUCTION = {
  TOLLGATE_ENV: "production",
  MONGODB_URI: "mongodb://127.0.0.1:27017",
  REDIS_URL: "redis://127.0.0.1:6379",
  TOLLGATE_ADMIN_TOKEN: "a-real-admin-token-0123456789",
  TOLLGATE_JWT_SECRET: "a-real-secret-0123456789-0123456789-xyz",
};

describe("configuration", () => {
  it("runs the embedded default with no configuration at all", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: "development",
      host: "127.0.0.1",
      port: 8181,
      mongodbUri: null,
      redisUrl: null,
      demo: true,
      rateLimits: DEFAULT_RATE_LIMITS,
      rateLimitFail: "open",
      workers: 1,
      jwt: { key: { kind: "secret", secret: DEV_JWT_SECRET } },
    });
    expect(config.rateLimits.mcp).toEqual({ default: 30, log: 10, artifact: 10, trigger: 5 });
    expect(config).toMatchObject({ maxHeaderFields: 100, internal: null, jwtMaxTtlS: 86400 });
    expect(config.trustedProxies.entries).toEqual([]);
    expect(config.trustedProxies.trust("10.0.0.1", 0)).toBe(false);
  });

  it("finds the policy in the package's wasm/ whatever the working directory; a set TOLLGATE_POLICY_DIR is taken as given", () => {
    const { policyDir } = loadConfig({});
    expect(isAbsolute(policyDir)).toBe(true);
    expect(existsSync(join(policyDir, "policy.wasm"))).toBe(true);
    expect(loadConfig({ TOLLGATE_POLICY_DIR: "build/policy" }).policyDir).toBe("build/policy");
  });

  it("compiles trusted proxies and the internal listener, and refuses bad entries", () => {
    const config = loadConfig({ TOLLGATE_TRUSTED_PROXIES: "10.0.0.0/8, 192.168.1.7", TOLLGATE_INTERNAL_PORT: "9191" });
    expect(config.trustedProxies.trust("10.2.3.4", 0)).toBe(true);
    expect(config.trustedProxies.trust("192.168.1.8", 0)).toBe(false);
    expect(config.internal).toEqual({ host: "127.0.0.1", port: 9191 });
    expect(() => loadConfig({ TOLLGATE_TRUSTED_PROXIES: "10.0.0.0/8,not-an-ip" })).toThrow(/TOLLGATE_TRUSTED_PROXIES/);
    expect(() => loadConfig({ TOLLGATE_MAX_HEADER_FIELDS: "5" })).toThrow(/TOLLGATE_MAX_HEADER_FIELDS/);
    expect(() => loadConfig({ TOLLGATE_JWT_MAX_TTL_S: "10" })).toThrow(/TOLLGATE_JWT_MAX_TTL_S/);
  });

  it("reports every problem at once", () => {
    const found = problems({ PORT: "http", TOLLGATE_RATE_LIMIT_FAIL: "maybe", REDIS_URL: "localhost:6379", TOLLGATE_RATE_LIMITS: "{", TOLLGATE_ADMIN_TOKEN: "short" });
    expect(found).toHaveLength(5);
    expect(found.join("\n")).toMatch(/PORT/);
    expect(found.join("\n")).toMatch(/TOLLGATE_RATE_LIMIT_FAIL/);
    expect(found.join("\n")).toMatch(/REDIS_URL/);
    expect(found.join("\n")).toMatch(/TOLLGATE_RATE_LIMITS/);
    expect(found.join("\n")).toMatch(/TOLLGATE_ADMIN_TOKEN/);
  });

  it("refuses production without MongoDB, Redis, an admin credential or a real JWT key", () => {
    const found = problems({ TOLLGATE_ENV: "production" });
    expect(found.join("\n")).toMatch(/MONGODB_URI/);
    expect(found.join("\n")).toMatch(/REDIS_URL/);
    expect(found.join("\n")).toMatch(/TOLLGATE_ADMIN_TOKEN/);
    expect(found.join("\n")).toMatch(/JWT key/);
    expect(problems({ ...PRODUCTION, TOLLGATE_JWT_SECRET: DEV_JWT_SECRET }).join("\n")).toMatch(/development secret/);
    expect(problems({ ...PRODUCTION, TOLLGATE_DEMO: "true" }).join("\n")).toMatch(/TOLLGATE_DEMO/);
    expect(loadConfig(PRODUCTION)).toMatchObject({ env: "production", host: "0.0.0.0", demo: false });
  });

  it("merges TOLLGATE_RATE_LIMITS over the defaults and rejects unknown classes", () => {
    expect(loadConfig({ TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":2}}' }).rateLimits.mcp).toEqual({ default: 30, log: 10, artifact: 10, trigger: 2 });
    expect(problems({ TOLLGATE_RATE_LIMITS: '{"api":{"triggers":2}}' })).toHaveLength(1);
    expect(problems({ TOLLGATE_RATE_LIMITS: '{"mcp":{"Trigger":2}}' })).toHaveLength(1);
    // A class of the tool table's own (checked against the policy at start-up: test/mcp/rate-limit-classes.test.ts).
    expect(loadConfig({ TOLLGATE_RATE_LIMITS: '{"mcp":{"deploy":1}}' }).rateLimits.mcp).toMatchObject({ default: 30, deploy: 1 });
    expect(problems({ TOLLGATE_RATE_LIMITS: '{"mcp":{"trigger":0}}' })).toHaveLength(1);
  });

  it("accepts exactly one JWT key source and checks its shape", () => {
    expect(problems({ TOLLGATE_JWT_SECRET: "x".repeat(40), TOLLGATE_JWT_JWKS_URL: "https://idp/jwks" }).join()).toMatch(/only one/);
    expect(problems({ TOLLGATE_JWT_SECRET: "short" }).join()).toMatch(/32 bytes/);
    expect(problems({ TOLLGATE_JWT_PUBLIC_KEY: "not a pem" }).join()).toMatch(/PEM/);
    expect(loadConfig({ TOLLGATE_JWT_JWKS_URL: "https://idp.example/jwks" }).jwt.key).toEqual({ kind: "jwks", url: "https://idp.example/jwks" });
  });

  it("validates the gateway's upstream and limits", () => {
    expect(problems({ TOLLGATE_UPSTREAM_URL: "ftp://x" }).join()).toMatch(/TOLLGATE_UPSTREAM_URL/);
    expect(problems({ TOLLGATE_UPSTREAM_TIMEOUT_MS: "-1" }).join()).toMatch(/TOLLGATE_UPSTREAM_TIMEOUT_MS/);
    expect(loadConfig({ TOLLGATE_UPSTREAM_URL: "http://api.internal:8080/base" }).upstreams.map((u) => u.url.href)).toEqual(["http://api.internal:8080/base"]);
  });

  it("needs shared backends for more than one worker", () => {
    expect(problems({ TOLLGATE_WORKERS: "2" }).join()).toMatch(/MONGODB_URI and REDIS_URL/);
    expect(loadConfig({ ...PRODUCTION, TOLLGATE_WORKERS: "2" }).workers).toBe(2);
  });
});

describe("TOLLGATE_MCP_SESSION_TTL_MS", () => {
  it("defaults to a day and accepts 1000..604800000", () => {
    expect(loadConfig({}).mcpSessionTtlMs).toBe(86_400_000);
    expect(loadConfig({ TOLLGATE_MCP_SESSION_TTL_MS: "3600000" }).mcpSessionTtlMs).toBe(3_600_000);
    for (const bad of ["999", "604800001", "1h", "1.5", "-1"]) expect(() => loadConfig({ TOLLGATE_MCP_SESSION_TTL_MS: bad })).toThrow(/TOLLGATE_MCP_SESSION_TTL_MS/);
  });
});

describe("TOLLGATE_REDIS_TIMEOUT_MS", () => {
  it("defaults to 50 ms and accepts 1..10000", () => {
    expect(loadConfig({}).redisTimeoutMs).toBe(50);
    expect(loadConfig({ TOLLGATE_REDIS_TIMEOUT_MS: "250" }).redisTimeoutMs).toBe(250);
    for (const bad of ["0", "10001", "fast", "1.5"]) expect(() => loadConfig({ TOLLGATE_REDIS_TIMEOUT_MS: bad })).toThrow(/TOLLGATE_REDIS_TIMEOUT_MS/);
  });
});

describe("invalidation bus settings", () => {
  it("TOLLGATE_REDIS_NAMESPACE defaults to tollgate and takes the key alphabet only", () => {
    expect(loadConfig({}).redisNamespace).toBe("tollgate");
    expect(loadConfig({ TOLLGATE_REDIS_NAMESPACE: "team-a.prod_1" }).redisNamespace).toBe("team-a.prod_1");
    for (const bad of ["a:b", "x".repeat(65), "a b", "é"]) expect(() => loadConfig({ TOLLGATE_REDIS_NAMESPACE: bad })).toThrow(/TOLLGATE_REDIS_NAMESPACE/);
  });

  it("TOLLGATE_INVALIDATION_HEARTBEAT_MS defaults to 1000, TOLLGATE_CACHE_TTL_DEGRADED_MS to 0", () => {
    expect(loadConfig({})).toMatchObject({ invalidationHeartbeatMs: 1000, cacheTtlDegradedMs: 0 });
    expect(loadConfig({ TOLLGATE_INVALIDATION_HEARTBEAT_MS: "250", TOLLGATE_CACHE_TTL_DEGRADED_MS: "500" })).toMatchObject({ invalidationHeartbeatMs: 250, cacheTtlDegradedMs: 500 });
    for (const bad of ["9", "60001", "x"]) expect(() => loadConfig({ TOLLGATE_INVALIDATION_HEARTBEAT_MS: bad })).toThrow(/TOLLGATE_INVALIDATION_HEARTBEAT_MS/);
    for (const bad of ["-1", "600001"]) expect(() => loadConfig({ TOLLGATE_CACHE_TTL_DEGRADED_MS: bad })).toThrow(/TOLLGATE_CACHE_TTL_DEGRADED_MS/);
  });

  it("TOLLGATE_REVOCATIONS_MAX defaults to 100000 and TOLLGATE_MONGODB_TIMEOUT_MS to 1000", () => {
    expect(loadConfig({})).toMatchObject({ revocationsMax: 100_000, mongodbTimeoutMs: 1_000 });
    expect(loadConfig({ TOLLGATE_REVOCATIONS_MAX: "5", TOLLGATE_MONGODB_TIMEOUT_MS: "250" })).toMatchObject({ revocationsMax: 5, mongodbTimeoutMs: 250 });
    for (const bad of ["0", "x", "1.5"]) expect(() => loadConfig({ TOLLGATE_REVOCATIONS_MAX: bad })).toThrow(/TOLLGATE_REVOCATIONS_MAX/);
    for (const bad of ["0", "9", "60001", "x"]) expect(() => loadConfig({ TOLLGATE_MONGODB_TIMEOUT_MS: bad })).toThrow(/TOLLGATE_MONGODB_TIMEOUT_MS/);
  });

  it("TOLLGATE_DRAIN_MS defaults to 5000 in production and 0 in development", () => {
    expect(loadConfig(PRODUCTION).drainMs).toBe(5000);
    expect(loadConfig({}).drainMs).toBe(0);
    expect(loadConfig({ TOLLGATE_DRAIN_MS: "1500" }).drainMs).toBe(1500);
    for (const bad of ["-1", "600001", "1.5", "x"]) expect(() => loadConfig({ TOLLGATE_DRAIN_MS: bad })).toThrow(/TOLLGATE_DRAIN_MS/);
  });
});

describe("TOLLGATE_REDIS_CLUSTER_NODES", () => {
  it("takes comma-separated seed nodes host:port and is unset by default", () => {
    expect(loadConfig({}).redisClusterNodes).toBeNull();
    expect(loadConfig({ TOLLGATE_REDIS_CLUSTER_NODES: "10.0.0.1:7000, redis-b.internal:7001,[::1]:7002" }).redisClusterNodes).toEqual([
      { host: "10.0.0.1", port: 7000 },
      { host: "redis-b.internal", port: 7001 },
      { host: "::1", port: 7002 },
    ]);
  });

  it("refuses a malformed node, naming it, among every other problem", () => {
    const found = problems({ TOLLGATE_REDIS_CLUSTER_NODES: "10.0.0.1:7000,redis-b,c:99999,:7000", PORT: "http" });
    expect(found).toHaveLength(2);
    expect(found.join("\n")).toMatch(/TOLLGATE_REDIS_CLUSTER_NODES.*"redis-b".*"c:99999".*":7000"/);
    expect(found.join("\n")).toMatch(/PORT/);
  });

  it("is exclusive with REDIS_URL: one problem naming both, reported with the others", () => {
    const found = problems({ TOLLGATE_REDIS_CLUSTER_NODES: "10.0.0.1:7000", REDIS_URL: "redis://127.0.0.1:6379", TOLLGATE_ADMIN_TOKEN: "short" });
    expect(found).toHaveLength(2);
    expect(found.join("\n")).toMatch(/REDIS_URL.*TOLLGATE_REDIS_CLUSTER_NODES|TOLLGATE_REDIS_CLUSTER_NODES.*REDIS_URL/);
    expect(found.join("\n")).toMatch(/TOLLGATE_ADMIN_TOKEN/);
  });

  it("stands in for REDIS_URL in production and with workers", () => {
    const { REDIS_URL: _unused, ...withoutUrl } = PRODUCTION;
    const cluster = { ...withoutUrl, TOLLGATE_REDIS_CLUSTER_NODES: "10.0.0.1:7000,10.0.0.2:7000" };
    expect(loadConfig({ ...cluster, TOLLGATE_WORKERS: "2" })).toMatchObject({ redisUrl: null, redisClusterNodes: [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7000 }], workers: 2 });
    expect(problems(withoutUrl).join()).toMatch(/REDIS_URL or TOLLGATE_REDIS_CLUSTER_NODES/);
  });
});

describe("browser sign-in (TOLLGATE_OIDC_*, TOLLGATE_PUBLIC_URL, TOLLGATE_UI_SESSION_TTL_S)", () => {
  const OIDC = {
    TOLLGATE_PUBLIC_URL: "https://tollgate.example.com",
    TOLLGATE_OIDC_ISSUER: "https://idp.example.com/realms/org",
    TOLLGATE_OIDC_CLIENT_ID: "tollgate",
    TOLLGATE_OIDC_CLIENT_SECRET: "s3cret",
  };

  it("has no identity provider by default (the development sign-in page) and 8-hour sessions", () => {
    expect(loadConfig({})).toMatchObject({ oidc: null, publicUrl: null, uiSessionTtlS: 28800 });
  });

  it("takes all three OIDC variables with the public URL, in production too", () => {
    const config = loadConfig({ ...PRODUCTION, ...OIDC, TOLLGATE_UI_SESSION_TTL_S: "3600" });
    expect(config.oidc).toEqual({ issuer: "https://idp.example.com/realms/org", clientId: "tollgate", clientSecret: "s3cret" });
    expect(config.uiSessionTtlS).toBe(3600);
  });

  it("wants all three or none, and the public URL for the callback", () => {
    expect(problems({ TOLLGATE_OIDC_ISSUER: OIDC.TOLLGATE_OIDC_ISSUER }).join()).toMatch(/missing TOLLGATE_OIDC_CLIENT_ID, TOLLGATE_OIDC_CLIENT_SECRET/);
    const { TOLLGATE_PUBLIC_URL: _, ...withoutPublicUrl } = OIDC;
    expect(problems(withoutPublicUrl).join()).toMatch(/needs TOLLGATE_PUBLIC_URL/);
  });

  it("allows an http issuer only on a loopback host outside production", () => {
    const local = { ...OIDC, TOLLGATE_PUBLIC_URL: "http://127.0.0.1:8181", TOLLGATE_OIDC_ISSUER: "http://localhost:9000" };
    expect(loadConfig(local).oidc?.issuer).toBe("http://localhost:9000");
    expect(problems({ ...OIDC, TOLLGATE_OIDC_ISSUER: "http://idp.example.com" }).join()).toMatch(/TOLLGATE_OIDC_ISSUER must be an https URL/);
    expect(problems({ ...PRODUCTION, ...OIDC, TOLLGATE_OIDC_ISSUER: "http://localhost:9000" }).join()).toMatch(/TOLLGATE_OIDC_ISSUER must be an https URL/);
  });

  it("refuses an issuer with a query, and a session TTL out of range", () => {
    expect(problems({ ...OIDC, TOLLGATE_OIDC_ISSUER: "https://idp.example.com/?tenant=1" }).join()).toMatch(/TOLLGATE_OIDC_ISSUER must not have a query/);
    expect(problems({ TOLLGATE_UI_SESSION_TTL_S: "10" }).join()).toMatch(/TOLLGATE_UI_SESSION_TTL_S/);
  });
});

describe("audit of MCP messages", () => {
  it("TOLLGATE_AUDIT_MCP_ARGUMENTS is off by default and takes true or false", () => {
    expect(loadConfig({}).audit).toMatchObject({ mcpArguments: false });
    expect(loadConfig({ TOLLGATE_AUDIT_MCP_ARGUMENTS: "true" }).audit.mcpArguments).toBe(true);
    expect(loadConfig({ TOLLGATE_AUDIT_MCP_ARGUMENTS: "false" }).audit.mcpArguments).toBe(false);
    for (const bad of ["yes", "1", "TRUE"]) expect(problems({ TOLLGATE_AUDIT_MCP_ARGUMENTS: bad }).join()).toMatch(/TOLLGATE_AUDIT_MCP_ARGUMENTS must be "true" or "false"/);
  });

  it("TOLLGATE_AUDIT_REDACT_KEYS is a regular expression matched case-insensitively, checked at start-up", () => {
    const { redactKeys } = loadConfig({}).audit;
    expect(redactKeys.source).toBe(DEFAULT_AUDIT_REDACT_KEYS);
    for (const key of ["password", "API_KEY", "Authorization", "client_secret", "refreshToken", "Cookie", "sessionId"]) expect(redactKeys.test(key), key).toBe(true);
    for (const key of ["build", "ref", "project", "count"]) expect(redactKeys.test(key), key).toBe(false);
    const own = loadConfig({ TOLLGATE_AUDIT_REDACT_KEYS: "^(pin|otp)$" }).audit.redactKeys;
    expect([own.test("PIN"), own.test("pinned"), own.test("password")]).toEqual([true, false, false]);
    const found = problems({ TOLLGATE_AUDIT_REDACT_KEYS: "(unclosed", PORT: "x" });
    expect(found).toHaveLength(2);
    expect(found.join("\n")).toMatch(/TOLLGATE_AUDIT_REDACT_KEYS must be a regular expression/);
  });
});

describe("MCP discovery (RFC 9728)", () => {
  it("is off by default: no public URL, no authorization servers", () => {
    expect(loadConfig({})).toMatchObject({ publicUrl: null, mcpAuthorizationServers: [] });
  });

  it("TOLLGATE_PUBLIC_URL is an absolute http(s) origin, kept as its origin; https in production", () => {
    expect(loadConfig({ TOLLGATE_PUBLIC_URL: "https://Tollgate.Example.com/" }).publicUrl).toBe("https://tollgate.example.com");
    expect(loadConfig({ TOLLGATE_PUBLIC_URL: "http://127.0.0.1:8181" }).publicUrl).toBe("http://127.0.0.1:8181");
    expect(loadConfig({ TOLLGATE_PUBLIC_URL: "https://[2001:db8::1]:8443" }).publicUrl).toBe("https://[2001:db8::1]:8443");
    expect(loadConfig({ ...PRODUCTION, TOLLGATE_PUBLIC_URL: "https://tollgate.example.com" }).publicUrl).toBe("https://tollgate.example.com");
    for (const bad of ["tollgate.example.com", "/api", "ftp://tollgate.example.com", "https://", "https://user:pw@tollgate.example.com", "https://tollgate.example.com/base", "https://tollgate.example.com/?x=1", "https://tollgate.example.com/#f"]) {
      expect(problems({ TOLLGATE_PUBLIC_URL: bad }).join(), bad).toMatch(/TOLLGATE_PUBLIC_URL/);
    }
    expect(problems({ ...PRODUCTION, TOLLGATE_PUBLIC_URL: "http://tollgate.example.com" }).join()).toMatch(/TOLLGATE_PUBLIC_URL must be https in production/);
  });

  it("TOLLGATE_MCP_AUTHORIZATION_SERVERS takes comma-separated issuer URLs, each checked, and needs TOLLGATE_PUBLIC_URL", () => {
    const env = { TOLLGATE_PUBLIC_URL: "https://tollgate.example.com" };
    expect(loadConfig({ ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: " https://as.example.com , https://login.example.org/realms/mcp " }).mcpAuthorizationServers).toEqual([
      "https://as.example.com",
      "https://login.example.org/realms/mcp",
    ]);
    expect(loadConfig({ ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: "http://127.0.0.1:9000" }).mcpAuthorizationServers).toEqual(["http://127.0.0.1:9000"]);
    for (const bad of ["as.example.com", "https://as.example.com?tenant=1", "https://as.example.com#x", "https://u:p@as.example.com", "https://AS.example.com", "https://as.example.com/a b", "ftp://as.example.com"]) {
      expect(problems({ ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: bad }).join(), bad).toMatch(/TOLLGATE_MCP_AUTHORIZATION_SERVERS/);
    }
    expect(problems({ ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://as.example.com,https://as.example.com" }).join()).toMatch(/TOLLGATE_MCP_AUTHORIZATION_SERVERS.*twice/);
    expect(problems({ TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://as.example.com" }).join()).toMatch(/TOLLGATE_MCP_AUTHORIZATION_SERVERS needs TOLLGATE_PUBLIC_URL/);
    expect(problems({ ...PRODUCTION, ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: "http://as.example.com" }).join()).toMatch(/TOLLGATE_MCP_AUTHORIZATION_SERVERS.*https in production/);
    expect(loadConfig({ ...env, TOLLGATE_MCP_AUTHORIZATION_SERVERS: " , " }).mcpAuthorizationServers).toEqual([]);
  });
});

describe("the OAuth authorization server", () => {
  const self = { TOLLGATE_PUBLIC_URL: "https://tollgate.example.com", TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://tollgate.example.com" };

  it("is on when TOLLGATE_MCP_AUTHORIZATION_SERVERS names TOLLGATE_PUBLIC_URL (Tollgate is its own MCP endpoints' authorization server), off otherwise", () => {
    expect(loadConfig({}).oauth.enabled).toBe(false);
    expect(loadConfig({ TOLLGATE_PUBLIC_URL: "https://tollgate.example.com" }).oauth.enabled).toBe(false);
    expect(loadConfig({ TOLLGATE_PUBLIC_URL: "https://tollgate.example.com", TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://as.example.com" }).oauth.enabled).toBe(false);
    expect(loadConfig(self).oauth.enabled).toBe(true);
    expect(loadConfig({ ...self, TOLLGATE_MCP_AUTHORIZATION_SERVERS: "https://as.example.com,https://tollgate.example.com/" }).oauth.enabled).toBe(true);
  });

  it("token lifetimes default to an hour (access) and 30 days (refresh); production needs real cookie keys", () => {
    expect(loadConfig({}).oauth).toMatchObject({ accessTtlS: 3600, refreshTtlS: 2_592_000 });
    expect(loadConfig({ TOLLGATE_OAUTH_ACCESS_TTL_S: "600", TOLLGATE_OAUTH_REFRESH_TTL_S: "86400" }).oauth).toMatchObject({ accessTtlS: 600, refreshTtlS: 86_400 });
    expect(problems({ TOLLGATE_OAUTH_ACCESS_TTL_S: "0" }).join()).toMatch(/TOLLGATE_OAUTH_ACCESS_TTL_S/);
    expect(problems({ TOLLGATE_OAUTH_COOKIE_KEYS: "short" }).join()).toMatch(/at least 32 characters/);
    expect(problems({ ...PRODUCTION, ...self }).join()).toMatch(/TOLLGATE_OAUTH_COOKIE_KEYS/);
    expect(loadConfig({ ...PRODUCTION, ...self, TOLLGATE_OAUTH_COOKIE_KEYS: "k".repeat(40) }).oauth.enabled).toBe(true);
    expect(loadConfig({ TOLLGATE_OAUTH_COOKIE_KEYS: `${"a".repeat(32)}, ${"b".repeat(32)}` }).oauth.cookieKeys).toEqual(["a".repeat(32), "b".repeat(32)]);
  });

  it("TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR defaults to 10 per client address", () => {
    expect(loadConfig({}).oauth.registrationsPerHour).toBe(10);
    expect(loadConfig({ TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "50" }).oauth.registrationsPerHour).toBe(50);
    expect(problems({ TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "0" }).join()).toMatch(/TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR/);
  });

  it("TOLLGATE_UI_SIGN_INS_PER_MINUTE defaults to 20 per client address; anything but 1..100000 is a problem reported with the others", () => {
    expect(loadConfig({}).uiSignInsPerMinute).toBe(20);
    expect(loadConfig({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: "5" }).uiSignInsPerMinute).toBe(5);
    for (const bad of ["0", "-1", "1.5", "many", "100001"]) {
      const found = problems({ TOLLGATE_UI_SIGN_INS_PER_MINUTE: bad, TOLLGATE_UI_SESSION_TTL_S: "10" }).join("\n");
      expect(found, bad).toMatch(/TOLLGATE_UI_SIGN_INS_PER_MINUTE/);
      expect(found, bad).toMatch(/TOLLGATE_UI_SESSION_TTL_S/);
    }
  });
});
