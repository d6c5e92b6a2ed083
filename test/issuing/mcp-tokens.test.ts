// MCP token self-service as a framework-free service: memory stores, the real policy (WASM), a
// clock the test moves. test/gateway/self-service.test.ts covers the same through HTTP.
import { fileURLToPath } from "node:url";
import { beforeEach, describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import { MAX_LIVE_TEMP_TOKENS, McpTokenService, sessionUser } from "../../src/issuing/mcp-tokens.js";
import { TokenIssuer } from "../../src/issuing/token-issuer.js";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { PolicyEngine } from "../../src/policy/engine.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryTempTokenStore } from "../../src/stores/memory/temp-token-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";

const engine = PolicyEngine.load(fileURLToPath(new URL("../../wasm", import.meta.url)));

let now: Date;
let facts: CachedFacts;
let issuer: TokenIssuer;
let tempTokens: MemoryTempTokenStore;
let service: McpTokenService;

beforeEach(async () => {
  now = new Date("2027-01-15T00:00:00Z");
  const clock = () => now;
  const directory = new MemoryDirectoryStore();
  await directory.putUser({ id: "bob", system_role: "user" });
  await directory.putUser({ id: "carol", system_role: "viewer" });
  await directory.putProject({ id: "p1", name: "One", public: false });
  await directory.putProject({ id: "p2", name: "Two", public: false });
  await directory.setCollaborator("p1", "bob", "Developer");
  await directory.setCollaborator("p1", "carol", "Developer");
  facts = new CachedFacts(new MemoryTokenStore(), directory, { ttlMs: 0 });
  issuer = new TokenIssuer(facts, new MemoryOAuthStore(), clock);
  tempTokens = new MemoryTempTokenStore();
  service = new McpTokenService({ engine, facts, issuer, tempTokens, clock });
});

/** The RequestError a call refuses with. */
async function refusal(call: Promise<unknown>): Promise<RequestError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe("the user's own MCP tokens", () => {
  it("creates a token owned by the user with the requested grants, and lists only the user's MCP tokens", async () => {
    const { token, record } = await service.create("bob", { name: "ci", grants: [{ project_id: "p1", allow_trigger: true }] });
    expect(token).toMatch(/^tg_mcp_/);
    expect(record).toMatchObject({ kind: "mcp", user_id: "bob", name: "ci", grants: [{ project_id: "p1", allow_trigger: true, expires_at: null }] });
    await issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
    await service.create("carol", { name: "hers", grants: [{ project_id: "p1" }] });
    expect((await service.list("bob")).map((r) => r.id)).toEqual([record.id]);
  });

  it("refuses a grant on a project the user does not collaborate on, naming it, and stores nothing", async () => {
    const err = await refusal(service.create("bob", { name: "x", grants: [{ project_id: "p1" }, { project_id: "p2" }] }));
    expect(err).toMatchObject({ code: "not_collaborator", status: 403, field: "grants.1.project_id", message: "grants.1.project_id: you do not collaborate on this project" });
    expect(await service.list("bob")).toEqual([]);
  });

  it("refuses allow_trigger to a viewer", async () => {
    const err = await refusal(service.create("carol", { name: "x", grants: [{ project_id: "p1", allow_trigger: true }] }));
    expect(err).toMatchObject({ code: "insufficient_role", status: 403, field: "grants.0.project_id", message: "grants.0.project_id: allow_trigger needs Developer or above" });
  });

  it("refuses every grant as policy_error (500) when the policy cannot answer", async () => {
    const broken = new McpTokenService({ engine: { grantViolations: () => [{ index: 0, field: "grants.0.project_id", reason: "policy_error" }] }, facts, issuer, tempTokens });
    const err = await refusal(broken.create("bob", { name: "x", grants: [{ project_id: "p1" }] }));
    expect(err).toMatchObject({ code: "policy_error", status: 500, field: "grants.0.project_id" });
  });

  it("answers not_found for another user's token, a non-MCP token and an unknown id, on read, update and revoke", async () => {
    const carols = await service.create("carol", { name: "hers", grants: [{ project_id: "p1" }] });
    const global = await issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
    for (const id of [carols.record.id, global.record.id, "nope"]) {
      for (const call of [service.get("bob", id), service.update("bob", id, { name: "mine" }), service.revoke("bob", id)]) {
        expect(await refusal(call)).toMatchObject({ code: "not_found", status: 404, message: "no such MCP token" });
      }
    }
    expect((await facts.tokenStore.get(carols.record.id))?.revoked_at).toBeNull();
  });

  it("renames, re-grants (checked again) and revokes the user's own token", async () => {
    const { record } = await service.create("bob", { name: "ci", grants: [{ project_id: "p1" }] });
    expect(await service.update("bob", record.id, { name: "renamed" })).toMatchObject({ name: "renamed" });
    expect(await refusal(service.update("bob", record.id, { grants: [{ project_id: "p2" }] }))).toMatchObject({ code: "not_collaborator" });
    expect((await service.update("bob", record.id, { grants: [{ project_id: "p1", allow_trigger: true }] })).grants).toEqual([{ project_id: "p1", allow_trigger: true, expires_at: null }]);
    expect((await service.revoke("bob", record.id)).revoked_at).toEqual(now);
  });
});

describe("temp tokens and the exchange", () => {
  it(`issues at most ${MAX_LIVE_TEMP_TOKENS} live temp tokens per user, then rate_limited until the oldest expires`, async () => {
    const first = await service.issueTempToken("bob");
    expect(first.temp_token).toMatch(/^tg_tmp_/);
    expect(first.expires_at.getTime() - now.getTime()).toBe(10 * 60 * 1000);
    now = new Date(now.getTime() + 60_000);
    for (let i = 1; i < MAX_LIVE_TEMP_TOKENS; i++) await service.issueTempToken("bob");
    const err = await refusal(service.issueTempToken("bob"));
    expect(err).toMatchObject({ code: "rate_limited", status: 429, retryAfterS: 9 * 60 });
    await service.issueTempToken("carol");
    now = first.expires_at;
    await service.issueTempToken("bob");
  });

  it("exchanges a temp token once for an MCP token of its owner", async () => {
    const { temp_token } = await service.issueTempToken("bob");
    const { token, record } = await service.exchange(temp_token, { name: "claude", grants: [{ project_id: "p1" }] });
    expect(token).toMatch(/^tg_mcp_/);
    expect(record).toMatchObject({ kind: "mcp", user_id: "bob", name: "claude" });
    expect(await refusal(service.exchange(temp_token, { name: "again", grants: [] }))).toMatchObject({ code: "invalid_token", status: 401, field: "temp_token" });
  });

  it("leaves the temp token usable when the exchange is refused", async () => {
    const { temp_token } = await service.issueTempToken("bob");
    expect(await refusal(service.exchange(temp_token, { name: "x", grants: [{ project_id: "p2" }] }))).toMatchObject({ code: "not_collaborator" });
    expect(await refusal(service.exchange(temp_token, { name: "x", grants: [], expires_at: new Date(now.getTime() - 1) }))).toMatchObject({ code: "invalid_request", field: "expires_at" });
    expect((await service.exchange(temp_token, { name: "x", grants: [{ project_id: "p1" }] })).record.user_id).toBe("bob");
  });

  it("refuses a value that is not a temp token, and an expired one", async () => {
    const mcp = await service.create("bob", { name: "x", grants: [] });
    expect(await refusal(service.exchange(mcp.token, { name: "x", grants: [] }))).toMatchObject({ code: "invalid_request", status: 400, field: "temp_token" });
    const { temp_token, expires_at } = await service.issueTempToken("bob");
    now = expires_at;
    expect(await refusal(service.exchange(temp_token, { name: "x", grants: [] }))).toMatchObject({ code: "invalid_token", status: 401 });
  });

  it("only 1 of 50 concurrent exchanges of one temp token succeeds", async () => {
    const { temp_token } = await service.issueTempToken("bob");
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => service.exchange(temp_token, { name: "x", grants: [{ project_id: "p1" }] })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await service.list("bob")).toHaveLength(1);
  });
});

describe("sessionUser", () => {
  it("is the user of a session, and refuses any other subject", () => {
    expect(sessionUser({ type: "user", user_id: "bob" })).toBe("bob");
    for (const subject of [null, { type: "mcp", user_id: "bob" }, { type: "global", user_id: "bob" }, { type: "project", user_id: null }]) {
      expect(() => sessionUser(subject)).toThrow(expect.objectContaining({ code: "token_not_allowed_on_path", status: 403 }));
    }
  });
});
