// The decision core on its own: memory stores, the real policy, no HTTP.
import { SignJWT } from "jose";
import { pino } from "pino";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryAudit } from "../../src/audit/memory.js";
import type { AuditCounters, AuditRecord, AuditSink } from "../../src/audit/types.js";
import { CredentialResolver } from "../../src/auth/credentials.js";
import { JwtVerifier } from "../../src/auth/jwt.js";
import { DEFAULT_RATE_LIMITS, type RateLimits } from "../../src/config/config.js";
import { DecisionService, type DecisionRequest } from "../../src/decision/service.js";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import { TokenIssuer } from "../../src/issuing/token-issuer.js";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { packageFile } from "../../src/package-root.js";
import { PolicyEngine } from "../../src/policy/engine.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryMcpSessionStore } from "../../src/stores/memory/mcp-session-store.js";
import { MemoryRateLimiter } from "../../src/stores/memory/rate-limiter.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import { BackendUnavailableError, type DirectoryStore, type RateLimiter } from "../../src/stores/types.js";

const NOW = 1_800_000_000;
const SECRET = "test-secret-0123456789-0123456789-abcdef";
const engine = PolicyEngine.load(packageFile("wasm"), { logger: pino({ level: "silent" }) });

interface Core {
  service: DecisionService;
  audit: MemoryAudit;
  records: () => Promise<AuditRecord[]>;
  directory: DirectoryStore;
  issuer: TokenIssuer;
}

function build(
  overrides: {
    rateLimiter?: RateLimiter;
    audit?: AuditSink;
    counters?: AuditCounters;
    directory?: DirectoryStore;
    limit?: number;
    limits?: RateLimits;
    fail?: "open" | "closed";
    mcpArguments?: RegExp;
  } = {},
): Core {
  const facts = new CachedFacts(new MemoryTokenStore(), overrides.directory ?? new MemoryDirectoryStore(), { ttlMs: 0 });
  const jwt = new JwtVerifier({ key: { kind: "secret", secret: SECRET }, issuer: null, audience: null, maxTtlS: 86_400, now: () => NOW });
  const audit = new MemoryAudit();
  const sessions = new MemoryMcpSessionStore();
  const limits = structuredClone(overrides.limits ?? DEFAULT_RATE_LIMITS);
  if (overrides.limit !== undefined) limits.api.default = overrides.limit;
  const service = new DecisionService({
    engine,
    credentials: new CredentialResolver(facts, jwt, () => NOW),
    facts,
    rateLimiter: overrides.rateLimiter ?? new MemoryRateLimiter({ sessions }),
    mcpSessions: sessions,
    mcpSessionTtlMs: 86_400_000,
    rateLimits: limits,
    rateLimitWindowMs: 60_000,
    rateLimitFail: overrides.fail ?? "closed",
    audit: overrides.audit ?? audit,
    ...(overrides.counters ? { auditCounters: overrides.counters } : {}),
    ...(overrides.mcpArguments ? { auditMcpArguments: { redactKeys: overrides.mcpArguments } } : {}),
    logger: pino({ level: "silent" }),
    clock: () => NOW,
  });
  return {
    service,
    audit,
    records: async () => (await audit.query({ limit: 100 })).records,
    directory: facts.directoryStore,
    issuer: new TokenIssuer(facts, new MemoryOAuthStore(), () => new Date(NOW * 1000)),
  };
}

async function seed(core: Core): Promise<void> {
  await core.directory.putUser({ id: "bob", system_role: "user" });
  await core.directory.putProject({ id: "priv", name: "Private", public: false });
  await core.directory.setCollaborator("priv", "bob", "Developer");
}

const session = (sub: string): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt(NOW - 60).setExpirationTime(NOW + 3600).sign(new TextEncoder().encode(SECRET));

const ask = (method: string, path: string, authorization: string | null): DecisionRequest => ({
  source: "authorize",
  method,
  path,
  authorization,
  clientAddress: "198.51.100.7",
});

describe("DecisionService", () => {
  let core: Core;
  beforeEach(async () => {
    core = build();
    await seed(core);
  });

  it("allows a collaborator, with identity headers built from the policy's output, and audits once", async () => {
    const verdict = await core.service.decide(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`));
    expect(verdict.decision).toMatchObject({ allow: true, status: 200, route: "/api/v1/projects/{project}/builds", subject: { type: "user", user_id: "bob" } });
    expect(verdict.decision.rate_limit).toMatchObject({ class: "default", limit: DEFAULT_RATE_LIMITS.api.default });
    expect(verdict.identity).toEqual({
      "X-Tollgate-Decision-Id": verdict.decision.decision_id,
      "X-Tollgate-User": "bob",
      "X-Tollgate-Token-Type": "user",
      "X-Tollgate-Token-Id": "",
      "X-Tollgate-Projects": "",
      "X-Tollgate-Permissions": "",
    });
    const records = await core.records();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ decision_id: verdict.decision.decision_id, source: "authorize", allow: true, status: 200, user_id: "bob", client_address: "198.51.100.7", upstream_status: null });
  });

  it("tells the upstream an MCP token's live grants and trigger permission", async () => {
    const { token } = await core.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: true }] });
    const verdict = await core.service.decide(ask("GET", "/api/v1/mcp/projects/priv", `Bearer ${token}`));
    expect(verdict.decision.allow).toBe(true);
    expect(verdict.identity).toMatchObject({ "X-Tollgate-Token-Type": "mcp_token", "X-Tollgate-Projects": "priv", "X-Tollgate-Permissions": "read,trigger" });
  });

  it("denies a stranger and gives no identity", async () => {
    await core.directory.putUser({ id: "dave", system_role: "user" });
    const verdict = await core.service.decide(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("dave")}`));
    expect(verdict.decision).toMatchObject({ allow: false, status: 403, reasons: ["not_collaborator"] });
    expect(verdict.identity["X-Tollgate-User"]).toBe("");
    expect(await core.records()).toHaveLength(1);
  });

  it("denies an unknown route without reading any fact", async () => {
    let reads = 0;
    const directory = new MemoryDirectoryStore();
    const counting = new Proxy(directory, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (typeof prop === "string" && /^(get|find|collaborator|list)/.test(prop)) reads++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const c = build({ directory: counting });
    const verdict = await c.service.decide(ask("GET", "/api/v1/projects/priv/nope", `Bearer ${await session("bob")}`));
    expect(verdict.decision).toMatchObject({ allow: false, status: 403, reasons: ["unknown_route"], route: null });
    expect(reads).toBe(0);
  });

  it("denies a bad credential as 401 invalid_token", async () => {
    const verdict = await core.service.decide(ask("GET", "/api/v1/projects/priv/builds", "Bearer tg_not_a_real_token"));
    expect(verdict.decision).toMatchObject({ allow: false, status: 401, reasons: ["invalid_token"], subject: null });
  });

  it("fails closed with 503 backend_unavailable when the directory is down", async () => {
    const down = new Proxy(new MemoryDirectoryStore(), {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        return () => Promise.reject(new BackendUnavailableError("mongodb", new Error("connection refused")));
      },
    });
    const c = build({ directory: down });
    const verdict = await c.service.decide(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`));
    expect(verdict.decision).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    expect(await c.records()).toEqual([expect.objectContaining({ allow: false, status: 503, reasons: ["backend_unavailable"] })]);
  });

  it("fails closed when the rate limiter is down (TOLLGATE_RATE_LIMIT_FAIL=closed), admits when open", async () => {
    const broken: RateLimiter = { hit: () => Promise.reject(new BackendUnavailableError("redis", new Error("ECONNREFUSED"))) };
    for (const [fail, allow] of [["closed", false], ["open", true]] as const) {
      const c = build({ rateLimiter: broken, fail });
      await seed(c);
      const verdict = await c.service.decide(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`));
      expect(verdict.decision.allow).toBe(allow);
      if (!allow) expect(verdict.decision).toMatchObject({ status: 503, reasons: ["backend_unavailable"] });
    }
  });

  it("answers 429 past the limit, and a dry run consumes nothing", async () => {
    const c = build({ limit: 2 });
    await seed(c);
    const request = ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`);
    expect((await c.service.decide({ ...request, dryRun: true })).decision.rate_limit?.remaining).toBe(2);
    expect((await c.service.decide(request)).decision.allow).toBe(true);
    expect((await c.service.decide(request)).decision.allow).toBe(true);
    const third = await c.service.decide(request);
    expect(third.decision).toMatchObject({ allow: false, status: 429, rate_limit: { remaining: 0 } });
  });

  it("begin() audits once, when settled, with the upstream's status", async () => {
    const pending = await core.service.begin({ ...(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`)), source: "gateway" });
    expect(await core.records()).toHaveLength(0);
    pending.settle(201);
    pending.settle(500);
    const records = await core.records();
    expect(records).toEqual([expect.objectContaining({ source: "gateway", upstream_status: 201, decision_id: pending.verdict.decision.decision_id })]);
  });

  it("keeps the decision when the audit sink throws, and counts the loss", async () => {
    const dropped: string[] = [];
    const throwing: AuditSink = { record: () => { throw new Error("disk full"); }, flush: async () => {}, close: async () => {} };
    const c = build({ audit: throwing, counters: { written: () => {}, dropped: (_n, why) => dropped.push(why) } });
    await seed(c);
    const verdict = await c.service.decide(ask("GET", "/api/v1/projects/priv/builds", `Bearer ${await session("bob")}`));
    expect(verdict.decision).toMatchObject({ allow: true, status: 200 });
    expect(dropped).toEqual(["write_failed"]);
  });

  describe("the route found before the decision (the gateway's)", () => {
    it("is used without a second lookup when it is for the same method, path and policy revision", async () => {
      await seed(core);
      const authorization = `Bearer ${await session("bob")}`;
      const found = core.service.route("GET", "/api/v1/projects/priv/builds");
      const lookups = vi.spyOn(engine, "route");
      try {
        const verdict = await core.service.decide({ ...ask("GET", "/api/v1/projects/priv/builds", authorization), route: found });
        expect(verdict.decision).toMatchObject({ allow: true, route: "/api/v1/projects/{project}/builds" });
        expect(lookups).not.toHaveBeenCalled();
      } finally {
        lookups.mockRestore();
      }
    });

    it("is looked up again when it was found for another method, path or revision: what is decided stays the request's own", async () => {
      await seed(core);
      await core.directory.putProject({ id: "other", name: "Other", public: false });
      const authorization = `Bearer ${await session("bob")}`;
      const path = "/api/v1/projects/other/builds";
      const plain = await core.service.decide(ask("GET", path, authorization));
      expect(plain.decision).toMatchObject({ allow: false, status: 403 });
      const elsewhere = core.service.route("GET", "/api/v1/projects/priv/builds");
      for (const route of [elsewhere, { ...elsewhere, path }, { ...core.service.route("POST", path), method: "GET" }, { ...core.service.route("GET", path), info: elsewhere.info, revision: "sha256:another" }]) {
        const lookups = vi.spyOn(engine, "route");
        try {
          const verdict = await core.service.decide({ ...ask("GET", path, authorization), route });
          expect(verdict.decision).toMatchObject({ allow: false, status: 403, reasons: plain.decision.reasons });
          expect(lookups).toHaveBeenCalledWith("GET", path);
        } finally {
          lookups.mockRestore();
        }
      }
    });

    it("is looked up again after a policy reload between the two", async () => {
      await seed(core);
      const path = "/api/v1/projects/priv/builds";
      const found = core.service.route("GET", path);
      const reloaded = vi.spyOn(engine, "revision", "get").mockReturnValue("sha256:reloaded");
      const lookups = vi.spyOn(engine, "route");
      try {
        await core.service.decide({ ...ask("GET", path, `Bearer ${await session("bob")}`), route: found });
        expect(lookups).toHaveBeenCalledWith("GET", path);
      } finally {
        lookups.mockRestore();
        reloaded.mockRestore();
      }
    });
  });

  describe("MCP messages", () => {
    const MCP = "/api/v1/mcp/projects/priv/mcp";
    const mcpToken = async (c: Core, allowTrigger: boolean): Promise<string> =>
      `Bearer ${(await c.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: allowTrigger }] })).token}`;

    it("finds an MCP endpoint's route and tells that its body is a message", () => {
      expect(core.service.route("POST", MCP).info).toMatchObject({ pattern: "/api/v1/mcp/projects/{project}/mcp", mcp_message: true });
      expect(core.service.route("GET", MCP).info.mcp_message).toBe(false);
    });

    it("judges the message by the tool table and charges its class in the mcp area", async () => {
      const authorization = await mcpToken(core, false);
      const read = await core.service.decide({ ...ask("POST", MCP, authorization), mcp: { method: "tools/call", tool: "list_builds" } });
      expect(read.decision).toMatchObject({ allow: true, access: "read", rate_limit: { class: "default", limit: DEFAULT_RATE_LIMITS.mcp.default } });
      const trigger = await core.service.decide({ ...ask("POST", MCP, authorization), mcp: { method: "tools/call", tool: "trigger_build" } });
      expect(trigger.decision).toMatchObject({ allow: false, status: 403, reasons: ["trigger_not_allowed"] });
      const none = await core.service.decide(ask("POST", MCP, authorization));
      expect(none.decision).toMatchObject({ allow: false, status: 403, reasons: ["mcp_body_required"] });
    });

    it("denies with 500 policy_error when the policy names a class without a limit (a policy reloaded after start-up)", async () => {
      const limits = structuredClone(DEFAULT_RATE_LIMITS);
      delete limits.mcp.trigger;
      let hits = 0;
      const counting: RateLimiter = { hit: () => (hits++, Promise.reject(new Error("never asked"))) };
      const c = build({ limits, rateLimiter: counting });
      await seed(c);
      const verdict = await c.service.decide({ ...ask("POST", MCP, await mcpToken(c, true)), mcp: { method: "tools/call", tool: "trigger_build" } });
      expect(verdict.decision).toMatchObject({ allow: false, status: 500, reasons: ["policy_error"], rate_limit: null });
      expect(verdict.identity["X-Tollgate-Permissions"]).toBe("");
      expect(hits).toBe(0);
      expect(await c.records()).toEqual([expect.objectContaining({ allow: false, status: 500, reasons: ["policy_error"] })]);
    });

    describe("sessions", () => {
      const SID = "3f1c9a7e-5b2d-4c8e-9f01-a2b3c4d5e6f7";
      const call = (authorization: string, mcpSession?: string): DecisionRequest => ({
        ...ask("POST", MCP, authorization),
        source: "gateway",
        mcp: { method: "tools/list" },
        ...(mcpSession !== undefined && { mcpSession }),
      });

      it("names who a session opened on an allowed request belongs to: the MCP token's id under the user's rate-limit key", async () => {
        const { record, token } = await core.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] });
        const verdict = await core.service.decide(call(`Bearer ${token}`));
        expect(verdict.sessionOwner).toEqual({ partition: "user:bob", binding_id: record.id });
        // Not on a route that does not check sessions, nor on a denial.
        expect((await core.service.decide(ask("GET", "/api/v1/mcp/projects/priv", `Bearer ${token}`))).sessionOwner).toBeNull();
        const denied = await core.service.decide({ ...call(`Bearer ${token}`), mcp: { method: "tools/call", tool: "trigger_build" } });
        expect(denied.sessionOwner).toBeNull();
      });

      it("lets the caller's session through, and denies another token's or an unknown one with 404 unknown_session (the policy's second answer)", async () => {
        const mine = await mcpToken(core, false);
        const owner = (await core.service.decide(call(mine))).sessionOwner!;
        await core.service.bindSession(owner, SID);
        expect((await core.service.decide(call(mine, SID))).decision).toMatchObject({ allow: true, status: 200 });
        const theirs = await mcpToken(core, false);
        const hijack = await core.service.decide(call(theirs, SID));
        expect(hijack.decision).toMatchObject({ allow: false, status: 404, reasons: ["unknown_session"], rate_limit: { class: "default" } });
        expect(hijack.sessionOwner).toBeNull();
        expect((await core.service.decide(call(mine, "unknown"))).decision).toMatchObject({ status: 404, reasons: ["unknown_session"] });
        expect((await core.service.decide(call(mine, "not visible ascii"))).decision).toMatchObject({ status: 404, reasons: ["unknown_session"] });
        await core.service.endSession(owner, SID);
        expect((await core.service.decide(call(mine, SID))).decision).toMatchObject({ status: 404, reasons: ["unknown_session"] });
      });

      it("answers a bad credential as such, without looking at the session", async () => {
        const verdict = await core.service.decide(call("Bearer tg_mcp_nope", SID));
        expect(verdict.decision).toMatchObject({ status: 401 });
      });

      it("denies with 503 a session it cannot check, even with TOLLGATE_RATE_LIMIT_FAIL=open; requests without one fail open", async () => {
        const down: RateLimiter = { hit: () => Promise.reject(new BackendUnavailableError("redis", new Error("down"))) };
        const c = build({ rateLimiter: down, fail: "open" });
        await seed(c);
        const authorization = await mcpToken(c, false);
        expect((await c.service.decide(call(authorization, SID))).decision).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
        expect((await c.service.decide(call(authorization))).decision).toMatchObject({ allow: true, rate_limit: null });
      });
    });

    it("audits the MCP message: the call (from /v1/authorize's mcp too), id and session; arguments only when recording, redacted", async () => {
      const authorization = await mcpToken(core, false);
      const message = { id: 3, sessionId: "s-1", arguments: { build_id: "b1", token: "S3CR3T" } };
      await core.service.decide({ ...ask("POST", MCP, authorization), mcp: { method: "tools/call", tool: "get_build" }, mcpMessage: message });
      await core.service.decide({ ...ask("POST", MCP, authorization), mcp: { method: "resources/read", uri: "demo://projects/priv/builds/b1" } });
      await core.service.decide(ask("GET", MCP, authorization));
      // Found by content: two records decided in the same millisecond may come back in either order.
      const all = await core.records();
      const call = all.find((r) => r.mcp?.method === "tools/call");
      const read = all.find((r) => r.mcp?.method === "resources/read");
      const get = all.find((r) => r.method === "GET");
      expect(all).toHaveLength(3);
      expect(call!.mcp).toEqual({ method: "tools/call", tool: "get_build", uri: null, id: 3, session_id: "s-1", arguments: null, arguments_truncated: false });
      expect(read!.mcp).toEqual({ method: "resources/read", tool: null, uri: "demo://projects/priv/builds/b1", id: null, session_id: null, arguments: null, arguments_truncated: false });
      expect(get!.mcp).toBeNull();

      const c = build({ mcpArguments: /^token$/i });
      await seed(c);
      await c.service.decide({ ...ask("POST", MCP, await mcpToken(c, false)), mcp: { method: "tools/call", tool: "get_build" }, mcpMessage: message });
      const [recorded] = await c.records();
      expect(recorded!.mcp).toMatchObject({ arguments: '{"build_id":"b1","token":"[redacted]"}', arguments_truncated: false });
      // A refusal of a message that was read names its call too.
      c.service.refused({ ...ask("POST", MCP, null), mcp: { method: "tools/call", tool: "list_builds" }, mcpMessage: { id: 9, sessionId: null } }, 400, "mcp_header_mismatch", MCP);
      expect((await c.records())[0]!.mcp).toMatchObject({ method: "tools/call", tool: "list_builds", id: 9 });
    });

    it("refused() audits a request refused before the policy with the route its caller found: the active revision, no subject, nothing charged", async () => {
      let hits = 0;
      const counting: RateLimiter = { hit: () => (hits++, Promise.reject(new Error("never asked"))) };
      const c = build({ rateLimiter: counting });
      await seed(c);
      c.service.refused({ ...ask("POST", MCP, await mcpToken(c, true)), source: "gateway", userAgent: "mcp-client/1" }, 400, "batch_not_supported", "/api/v1/mcp/projects/{project}/mcp");
      expect(hits).toBe(0);
      expect(await c.records()).toEqual([
        expect.objectContaining({
          source: "gateway",
          allow: false,
          status: 400,
          reasons: ["batch_not_supported"],
          route: "/api/v1/mcp/projects/{project}/mcp",
          user_id: null,
          policy_revision: engine.revision,
          user_agent: "mcp-client/1",
          client_address: "198.51.100.7",
          upstream_status: null,
        }),
      ]);
    });
  });
});
