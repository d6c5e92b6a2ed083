// In-process tests of how the CLI turns options into the admin API's input, validation errors into
// the option at fault, and results into text (cheap; cli.test.ts runs whole commands
// against FerretDB).
import { describe, expect, it } from "vitest";
import { MemoryAudit } from "../../src/audit/memory.js";
import { auditFields } from "../../src/cli/audit.js";
import { collaboratorFields } from "../../src/cli/collaborator.js";
import { mongoHosts } from "../../src/cli/context.js";
import { CliError, errorLine, explain, named } from "../../src/cli/errors.js";
import { auditFilter, collaboratorRole, id, tokenRequest, userId } from "../../src/cli/schemas.js";
import { auditLine, tokenDetails, tokenTable } from "../../src/cli/output.js";
import { parseGrant, tokenBody, tokenFields, type CreateOptions } from "../../src/cli/token.js";
import { viewToken } from "../../src/issuing/token-issuer.js";
import { MemoryOAuthStore } from "../../src/stores/memory/oauth-store.js";
import { RequestError } from "../../src/errors.js";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import { TokenIssuer } from "../../src/issuing/token-issuer.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import { BackendUnavailableError, DuplicateError, NotFoundError, StoreValidationError } from "../../src/stores/types.js";

async function fixture(): Promise<{ issuer: TokenIssuer; directory: MemoryDirectoryStore; facts: CachedFacts }> {
  const directory = new MemoryDirectoryStore();
  await directory.putProject({ id: "p1", name: "Project one", public: false });
  await directory.putUser({ id: "bob", system_role: "user" });
  const facts = new CachedFacts(new MemoryTokenStore(), directory, { ttlMs: 0 });
  return { issuer: new TokenIssuer(facts, new MemoryOAuthStore()), directory, facts };
}

/** What `tollgate token create` would report for these options. */
async function createError(opts: CreateOptions): Promise<CliError> {
  const { issuer } = await fixture();
  try {
    await issuer.issueForOperator(tokenRequest(tokenBody(opts)));
  } catch (err) {
    return explain(err, tokenFields(opts.grant ?? []));
  }
  throw new Error("expected the token to be refused");
}

describe("--grant PROJECT[:trigger][@TIME]", () => {
  it.each([
    ["p1", { project_id: "p1", allow_trigger: false }],
    ["p1:trigger", { project_id: "p1", allow_trigger: true }],
    ["p1@2027-01-01T00:00:00Z", { project_id: "p1", allow_trigger: false, expires_at: "2027-01-01T00:00:00Z" }],
    ["p1:trigger@2027-01-01T00:00:00+02:00", { project_id: "p1", allow_trigger: true, expires_at: "2027-01-01T00:00:00+02:00" }],
  ])("%s", (typed, grant) => {
    expect(parseGrant(typed)).toEqual(grant);
  });

  it.each(["p1:admin", ":trigger", "", "p1:trigger:trigger", "p1@"])("refuses %j, naming it", (typed) => {
    const err = (() => {
      try {
        parseGrant(typed);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 2, message: `--grant ${typed}: expected PROJECT[:trigger][@TIME], e.g. demo-private:trigger@2027-01-01T00:00:00Z` });
  });
});

describe("token create: options → the admin API's body → TokenIssuer", () => {
  it("builds the body the API takes, only with what was given", () => {
    expect(tokenBody({ type: "mcp", user: "bob", grant: ["p1:trigger"], name: "n", expires: "2027-01-01T00:00:00Z" })).toEqual({
      type: "mcp",
      user_id: "bob",
      name: "n",
      grants: [{ project_id: "p1", allow_trigger: true }],
      expires_at: "2027-01-01T00:00:00Z",
    });
    expect(tokenBody({ type: "global", user: "bob", scope: ["read", "write"] })).toEqual({ type: "global", user_id: "bob", scopes: ["read", "write"] });
  });

  it("issues what the options say", async () => {
    const { issuer } = await fixture();
    const { record } = await issuer.issue(tokenRequest(tokenBody({ type: "mcp", user: "bob", grant: ["p1:trigger@2030-01-01T00:00:00Z"] })));
    expect(record).toMatchObject({ kind: "mcp", user_id: "bob", grants: [{ project_id: "p1", allow_trigger: true, expires_at: new Date("2030-01-01T00:00:00Z") }] });
  });

  it.each<[string, CreateOptions, number, RegExp]>([
    ["bad --expires", { type: "global", user: "bob", expires: "tomorrow" }, 2, /^--expires: must be an ISO 8601 timestamp with a timezone/],
    ["--expires without a timezone", { type: "global", user: "bob", expires: "2030-01-01T00:00:00" }, 2, /^--expires: must be an ISO 8601 timestamp with a timezone/],
    ["--expires in the past", { type: "global", user: "bob", expires: "2020-01-01T00:00:00Z" }, 2, /^--expires must be in the future$/],
    ["bad grant time", { type: "mcp", user: "bob", grant: ["p1", "p1:trigger@2030-13-01T00:00:00Z"] }, 2, /^--grant p1:trigger@2030-13-01T00:00:00Z: must be an ISO 8601 timestamp/],
    ["unknown grant project", { type: "mcp", user: "bob", grant: ["p1", "nope:trigger"] }, 1, /^--grant nope:trigger: no project "nope"$/],
    ["unknown project", { type: "project", project: "nope" }, 1, /^--project: no project "nope"$/],
    ["no owner", { type: "mcp" }, 2, /^--user is required for this token type$/],
    ["unknown owner", { type: "global", user: "nobody" }, 1, /^--user: no user "nobody" \(create it with PUT \/v1\/admin\/users\/\{id\}\)$/],
    ["no project", { type: "project" }, 2, /^--project is required$/],
    ["grants on a global token", { type: "global", user: "bob", grant: ["p1"] }, 2, /^--grant: only mcp tokens have grants$/],
    ["a user on a project token", { type: "project", project: "p1", user: "bob" }, 2, /^--user: a project token belongs to its project/],
    ["malformed user id", { type: "global", user: "b ob" }, 2, /^--user: must /],
    ["a user id with a comma", { type: "global", user: "a,b" }, 2, /^--user: must be 1-255 visible ASCII characters/],
    ["empty name", { type: "global", user: "bob", name: "" }, 2, /^--name: /],
  ])("%s", async (_what, opts, exitCode, message) => {
    const err = await createError(opts);
    expect(err.exitCode, err.message).toBe(exitCode);
    expect(err.message).toMatch(message);
  });
});

describe("collaborator and audit input", () => {
  it("names PROJECT, USER and ROLE", async () => {
    const { directory } = await fixture();
    const attempt = async (project: string, user: string, role: string) => {
      try {
        await directory.setCollaborator(id(project, "project_id"), userId(user, "user_id"), collaboratorRole(role));
      } catch (err) {
        return explain(err, collaboratorFields);
      }
      return null;
    };
    expect(await attempt("p1", "bob", "Developer")).toBeNull();
    expect((await attempt("p1", "bob", "Boss"))?.message).toMatch(/^ROLE: /);
    expect((await attempt("p 1", "bob", "Owner"))?.message).toMatch(/^PROJECT: must /);
    expect((await attempt("p1", "b ob", "Owner"))?.message).toMatch(/^USER: must /);
    // User ids follow the user-id alphabet, project ids their own.
    expect(await attempt("p1", "auth0|abc123", "Developer")).toBeNull();
    expect(await attempt("p1", "jane.doe+ci@example.com", "Developer")).toBeNull();
    expect((await attempt("p1", "a,b", "Owner"))?.message).toMatch(/^USER: must be 1-255 visible ASCII characters/);
    expect((await attempt("p|1", "bob", "Owner"))?.message).toMatch(/^PROJECT: must /);
    expect(await attempt("nope", "bob", "Owner")).toMatchObject({ exitCode: 1, message: 'no project "nope"' });
  });

  it.each([
    [{ limit: "0" }, /^--limit: must be an integer in 1\.\.1000$/],
    [{ limit: "1001" }, /^--limit: must be an integer in 1\.\.1000$/],
    [{ limit: "ten" }, /^--limit: must be an integer in 1\.\.1000$/],
    [{ limit: "5", since: "yesterday" }, /^--since: must be an ISO 8601 timestamp with a timezone/],
    [{ limit: "5", source: "console" }, /^--source: must be one of gateway, authorize, data_api, forward_auth, ext_authz, admin, cli, ui$/],
    [{ limit: "5", tool: "" }, /^--tool: /],
    [{ limit: "5", mcp_method: "m".repeat(257) }, /^--mcp-method: /],
  ])("audit tail %j", async (query, message) => {
    const store = new MemoryAudit();
    const err = await (async () => {
      try {
        await store.query(auditFilter(query));
      } catch (e) {
        return explain(e, auditFields);
      }
      return null;
    })();
    expect(err).toMatchObject({ exitCode: 2 });
    expect(err?.message).toMatch(message);
  });

  it("passes a good filter on", () => {
    expect(auditFilter({ user_id: "ada", token_id: "tok_1", since: "2030-01-01T00:00:00Z", limit: "5" })).toEqual({
      user_id: "ada",
      token_id: "tok_1",
      since: new Date("2030-01-01T00:00:00Z"),
      limit: 5,
    });
    expect(auditFilter({ source: "cli", limit: "20" })).toEqual({ source: "cli", limit: 20 });
  });
});

describe("explain: any error as one plain line and an exit code", () => {
  it.each<[string, unknown, number, string]>([
    ["not found", new NotFoundError("project", "p9"), 1, 'no project "p9"'],
    ["duplicate", new DuplicateError("token", "hash"), 1, "token with this hash already exists"],
    ["mongodb down", new BackendUnavailableError("mongodb", new Error("connect ECONNREFUSED")), 1, "cannot reach MongoDB: connect ECONNREFUSED"],
    ["store validation, indexed field", new StoreValidationError("grants[1].expires_at", "must be a valid Date"), 2, "grants.1.expires_at: must be a valid Date"],
    ["request error", new RequestError("invalid_request", "scopes: give at least one of read, write", "scopes"), 2, "scopes: give at least one of read, write"],
    ["unknown project", new RequestError("unknown_project", 'project_id: no project "x"', "project_id"), 1, 'project_id: no project "x"'],
    ["anything else", new Error("boom"), 1, "boom"],
    ["not even an error", "weird", 1, "weird"],
  ])("%s", (_what, err, exitCode, message) => {
    expect(explain(err)).toMatchObject({ exitCode, message });
  });

  it("names the option in a zod issue", () => {
    const zodLike = Object.assign(new Error("[...]"), { name: "ZodError", issues: [{ path: ["grants", 0, "project_id"], message: "must be 1-128 letters" }] });
    expect(explain(zodLike, tokenFields(["bad id:trigger"]))).toMatchObject({ exitCode: 2, message: "--grant bad id:trigger: must be 1-128 letters" });
  });

  it("leaves an unavailable backend to the caller that knows the server", () => {
    const down = new BackendUnavailableError("mongodb", new Error("x"));
    expect(named(down, tokenFields([]))).toBe(down);
    expect(named(new StoreValidationError("user_id", "bad"), tokenFields([]))).toMatchObject({ message: "--user: bad" });
  });

  it("prints one line", () => {
    expect(errorLine("invalid configuration:\n  - A\n  - B")).toBe("tollgate: invalid configuration: - A - B\n");
  });

  it("names MongoDB servers without credentials", () => {
    expect(mongoHosts("mongodb://user:secret@h1:27017,h2:27018/db?replicaSet=rs0")).toBe("h1:27017,h2:27018");
    expect(mongoHosts("mongodb+srv://cluster0.example.net/")).toBe("cluster0.example.net");
    expect(mongoHosts("mongodb://localhost")).toBe("localhost");
  });
});

describe("plain output", () => {
  const time = new Date("2030-01-02T03:04:05.678Z");
  const base = {
    decision_id: "00000000-0000-4000-8000-000000000000",
    time,
    source: "gateway" as const,
    subject_type: "mcp_token" as const,
    user_id: "ada",
    token_id: "tok_1",
    method: "POST",
    path: "/api/v1/projects/p1/trigger",
    route: null,
    rate_limit: null,
    latency_ms: 2.5,
    action: null,
    target: null,
    client_address: "192.0.2.1",
    policy_revision: null,
    user_agent: null,
    mcp: null,
  };

  it("one line per audit record", () => {
    expect(auditLine({ ...base, allow: true, status: 200, reasons: [], upstream_status: 201 })).toBe(
      "2030-01-02T03:04:05.678Z  allow 200  POST /api/v1/projects/p1/trigger  user=ada token=tok_1  gateway 2.5ms upstream=201 from=192.0.2.1",
    );
    expect(auditLine({ ...base, user_id: null, token_id: null, allow: false, status: 401, reasons: ["missing_token"], upstream_status: null })).toBe(
      "2030-01-02T03:04:05.678Z  deny  401  POST /api/v1/projects/p1/trigger  anonymous  gateway 2.5ms reasons=missing_token from=192.0.2.1",
    );
    const revoke = { ...base, source: "cli" as const, subject_type: null, user_id: null, token_id: null, method: "DELETE", path: "/v1/admin/tokens/tok_1" };
    expect(auditLine({ ...revoke, allow: true, status: 200, reasons: [], upstream_status: null, action: "token.revoke", target: "token:tok_1", client_address: null })).toBe(
      "2030-01-02T03:04:05.678Z  allow 200  DELETE /v1/admin/tokens/tok_1  operator  cli 2.5ms action=token.revoke target=token:tok_1",
    );
    const mcp = { method: "tools/call", tool: "trigger_build", uri: null, id: 3, session_id: "s1", arguments: null, arguments_truncated: false };
    expect(auditLine({ ...base, path: "/api/v1/mcp/projects/p1/mcp", allow: false, status: 403, reasons: ["trigger_not_allowed"], upstream_status: null, mcp })).toBe(
      "2030-01-02T03:04:05.678Z  deny  403  POST /api/v1/mcp/projects/p1/mcp  user=ada token=tok_1  gateway 2.5ms reasons=trigger_not_allowed mcp=tools/call tool=trigger_build from=192.0.2.1",
    );
  });

  it("a token's details and a table of tokens", () => {
    const created = new Date("2030-01-01T00:00:00Z");
    const common = { hash: "0".repeat(64), created_at: created, last_used_at: null };
    const mcp = viewToken({ ...common, id: "tok_m", kind: "mcp", name: "agent", user_id: "ada", project_id: null, scopes: [], grants: [{ project_id: "p1", allow_trigger: true, expires_at: null }], expires_at: null, revoked_at: null });
    const global = viewToken({ ...common, id: "tok_g", kind: "global", name: "CI", user_id: "ada", project_id: null, scopes: ["read", "write"], grants: [], expires_at: null, revoked_at: created });
    expect(tokenDetails(mcp, "tg_mcp_secret")).toBe(
      ["token:     tg_mcp_secret", "id:        tok_m", "type:      mcp", "name:      agent", "status:    active", "user:      ada", "grants:    p1:trigger", "created:   2030-01-01T00:00:00.000Z", "expires:   never", "last used: never"].join("\n"),
    );
    expect(tokenTable([mcp, global]).split("\n")).toEqual([
      "ID     TYPE    STATUS   NAME   PROJECT  SCOPES/GRANTS  EXPIRES  LAST USED",
      "tok_m  mcp     active   agent  -        p1:trigger     never    never",
      "tok_g  global  revoked  CI     -        read,write     never    never",
    ]);
  });
});
