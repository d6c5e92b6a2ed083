// MCP token self-service under /api/v1/mcp/tokens, through the gateway on a real port: creation
// with the grant rules, listing without secrets, ownership, revocation, the single-use temp
// token exchange (in memory and on FerretDB) and the owner's view of what a token did.
import type { Server } from "node:http";
import { MongoClient } from "mongodb";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer } from "../../src/http/server.js";
import { COLLECTIONS } from "../../src/stores/mongo/schema.js";
import type { MemoryTempTokenStore } from "../../src/stores/memory/temp-token-store.js";
import { generateToken, hashToken } from "../../src/tokens/format.js";
import { NOW, bearer, buildTollgateAt } from "../http/fixture.js";
import { canStartFerretDb, startFerretDb, type MongoServer } from "../support/servers.js";
import { listen, send, sleep, startGateway, startUpstream, stopServer, type Gateway, type Sent, type Upstream } from "./helpers.js";

let upstream: Upstream;
let gw: Gateway;
const servers: Server[] = [];
let sessions: Record<"alice" | "bob" | "carol", string>;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  sessions = { alice: await gw.world.session("alice"), bob: await gw.world.session("bob"), carol: await gw.world.session("carol") };
});

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => stopServer(s)));
  await gw?.close();
  await upstream?.close();
});

function call(base: string, method: string, path: string, options: { credential?: string; body?: unknown } = {}): Promise<Sent> {
  const headers: Record<string, string> = {};
  if (options.credential) headers.authorization = bearer(options.credential);
  if (options.body !== undefined) headers["content-type"] = "application/json";
  return send(base, path, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
}

const api = (method: string, path: string, options: { credential?: string; body?: unknown } = {}) => call(gw.url, method, path, options);
const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();

async function create(user: keyof typeof sessions, body: unknown): Promise<Sent> {
  return api("POST", "/api/v1/mcp/tokens", { credential: sessions[user], body });
}

/** A Tollgate on the same backends whose clock reads `now`, served on a loopback port. */
async function serveAt(now: number, env: Record<string, string> = {}): Promise<string> {
  const tollgate = buildTollgateAt(now, { TOLLGATE_UPSTREAM_URL: upstream.url, ...env }, gw.world.tollgate.backends);
  const server = createHttpServer(tollgate.app, tollgate.config);
  servers.push(server);
  return listen(server);
}

describe("creating an MCP token", () => {
  it("answers 201 with the token value once; the token works on its granted project only", async () => {
    const res = await create("bob", {
      name: "my agent",
      grants: [{ project_id: "priv", allow_trigger: true, expires_at: iso(NOW + 86_400) }],
      expires_at: iso(NOW + 7 * 86_400),
    });
    expect(res.status).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      type: "mcp",
      name: "my agent",
      user_id: "bob",
      grants: [{ project_id: "priv", allow_trigger: true, expires_at: iso(NOW + 86_400) }],
      expires_at: iso(NOW + 7 * 86_400),
      revoked_at: null,
    });
    expect(body.token).toMatch(/^tg_mcp_/);
    expect(body).not.toHaveProperty("hash");

    const used = await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: body.token });
    expect(used.status).toBe(200);
    expect(upstream.hits.at(-1)!.headers).toMatchObject({ "x-tollgate-token-id": body.id, "x-tollgate-user": "bob", "x-tollgate-projects": "priv" });
    expect((await api("POST", "/api/v1/mcp/projects/priv/trigger", { credential: body.token })).status).toBe(200);
    expect((await api("GET", "/api/v1/mcp/projects/pub/builds", { credential: body.token })).json()).toMatchObject({ error: { code: "grant_missing" } });

    // Shown once: never again, in any view.
    for (const view of [await api("GET", `/api/v1/mcp/tokens/${body.id}`, { credential: sessions.bob }), await api("GET", "/api/v1/mcp/tokens", { credential: sessions.bob })]) {
      expect(view.status).toBe(200);
      expect(view.body).not.toContain(body.token);
      expect(view.body).not.toContain(hashToken(body.token));
      expect(view.body).not.toMatch(/"token"\s*:/);
      expect(view.body).not.toMatch(/"hash"\s*:/);
    }
  });

  it("refuses a grant on a project the user does not collaborate on (403 not_collaborator), naming the grant", async () => {
    const pub = await create("bob", { name: "x", grants: [{ project_id: "priv" }, { project_id: "pub" }] });
    expect(pub.status).toBe(403);
    expect(pub.json()).toMatchObject({ error: { code: "not_collaborator", field: "grants.1.project_id" } });
    const unknown = await create("bob", { name: "x", grants: [{ project_id: "no-such-project" }] });
    expect(unknown.status).toBe(403);
    expect(unknown.json()).toMatchObject({ error: { code: "not_collaborator", field: "grants.0.project_id" } });
  });

  it("refuses allow_trigger without Developer or above: a system viewer is refused (403 insufficient_role)", async () => {
    // carol is a Developer on priv but a system viewer.
    const res = await create("carol", { name: "x", grants: [{ project_id: "priv", allow_trigger: true }] });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "insufficient_role" } });
    // An Owner may.
    expect((await create("alice", { name: "x", grants: [{ project_id: "priv", allow_trigger: true }] })).status).toBe(201);
  });

  it("refuses allow_trigger at the exchange for a user demoted to viewer after the temp token was issued", async () => {
    const dir = gw.world.tollgate.facts.directoryStore;
    await dir.putUser({ id: "erin", system_role: "user" });
    await dir.setCollaborator("priv", "erin", "Developer");
    const temp = (await api("POST", "/api/v1/mcp/tokens/temp", { credential: await gw.world.session("erin") })).json().temp_token as string;
    await dir.putUser({ id: "erin", system_role: "viewer" });
    const res = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: temp, name: "x", grants: [{ project_id: "priv", allow_trigger: true }] } });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "insufficient_role", field: "grants.0.project_id" } });
  });

  it("validates the body", async () => {
    for (const body of [{}, { name: "", grants: [] }, { name: "x", grants: [{ project_id: "priv", expires_at: "tomorrow" }] }, { name: "x", grants: [], scopes: ["read"] }]) {
      const res = await create("bob", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe("invalid_request");
    }
  });
});

describe("who may use /api/v1/mcp/tokens", () => {
  it("MCP tokens and global tokens get 403, no credential 401", async () => {
    const mcp = gw.world.tokens.bobMcp;
    for (const [method, path] of [
      ["GET", "/api/v1/mcp/tokens"],
      ["POST", "/api/v1/mcp/tokens"],
      ["POST", "/api/v1/mcp/tokens/temp"],
      ["GET", `/api/v1/mcp/tokens/${gw.world.tokenIds.bobMcp}`],
      ["DELETE", `/api/v1/mcp/tokens/${gw.world.tokenIds.bobMcp}`],
      ["GET", `/api/v1/mcp/tokens/${gw.world.tokenIds.bobMcp}/audit`],
    ] as const) {
      const body = method === "POST" ? { name: "x", grants: [{ project_id: "priv" }] } : undefined;
      const byMcp = await api(method, path, { credential: mcp, body });
      expect(byMcp.status, `${method} ${path}`).toBe(403);
      expect(byMcp.json().error.code, `${method} ${path}`).toBe("token_not_allowed_on_path");
      expect((await api(method, path, { credential: gw.world.tokens.bobGlobal, body })).status, `${method} ${path}`).toBe(403);
      expect((await api(method, path, { body })).status, `${method} ${path}`).toBe(401);
    }
    // The MCP token was not revoked by its own DELETE attempt.
    expect((await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: mcp })).status).toBe(200);
  });
});

describe("listing, reading, changing and revoking", () => {
  it("lists the user's own MCP tokens only", async () => {
    const mine = (await create("bob", { name: "listed", grants: [{ project_id: "priv" }] })).json();
    const theirs = (await create("alice", { name: "alice's", grants: [{ project_id: "pub" }] })).json();
    const list = await api("GET", "/api/v1/mcp/tokens", { credential: sessions.bob });
    expect(list.status).toBe(200);
    const ids = (list.json().tokens as Array<{ id: string; type: string; user_id: string }>).map((t) => t.id);
    expect(ids).toContain(mine.id);
    expect(ids).toContain(gw.world.tokenIds.bobMcp);
    expect(ids).not.toContain(theirs.id);
    expect(ids).not.toContain(gw.world.tokenIds.bobGlobal);
    for (const t of list.json().tokens) expect(t).toMatchObject({ type: "mcp", user_id: "bob" });
  });

  it("another user's token id, a non-MCP token id and an unknown id are all 404", async () => {
    const theirs = (await create("alice", { name: "alice's", grants: [{ project_id: "pub" }] })).json();
    for (const id of [theirs.id, gw.world.tokenIds.bobGlobal, "tok_does_not_exist"]) {
      expect((await api("GET", `/api/v1/mcp/tokens/${id}`, { credential: sessions.bob })).status, id).toBe(404);
      expect((await api("PATCH", `/api/v1/mcp/tokens/${id}`, { credential: sessions.bob, body: { name: "mine now" } })).status, id).toBe(404);
      expect((await api("DELETE", `/api/v1/mcp/tokens/${id}`, { credential: sessions.bob })).status, id).toBe(404);
      expect((await api("GET", `/api/v1/mcp/tokens/${id}/audit`, { credential: sessions.bob })).status, id).toBe(404);
    }
    // alice's token is untouched and still works.
    expect((await api("GET", `/api/v1/mcp/tokens/${theirs.id}`, { credential: sessions.alice })).json()).toMatchObject({ name: "alice's", revoked_at: null });
    expect((await api("GET", "/api/v1/mcp/projects/pub/builds", { credential: theirs.token })).status).toBe(200);
  });

  it("PATCH renames and re-grants, checked by the same rules and effective on the next request", async () => {
    const created = (await create("bob", { name: "before", grants: [{ project_id: "priv", allow_trigger: true }] })).json();
    expect((await api("POST", "/api/v1/mcp/projects/priv/trigger", { credential: created.token })).status).toBe(200);

    const refused = await api("PATCH", `/api/v1/mcp/tokens/${created.id}`, { credential: sessions.bob, body: { grants: [{ project_id: "pub" }] } });
    expect(refused.status).toBe(403);
    expect(refused.json().error.code).toBe("not_collaborator");

    const patched = await api("PATCH", `/api/v1/mcp/tokens/${created.id}`, { credential: sessions.bob, body: { name: "after", grants: [{ project_id: "priv" }] } });
    expect(patched.status).toBe(200);
    expect(patched.json()).toMatchObject({ id: created.id, name: "after", grants: [{ project_id: "priv", allow_trigger: false, expires_at: null }] });
    const trigger = await api("POST", "/api/v1/mcp/projects/priv/trigger", { credential: created.token });
    expect(trigger.status).toBe(403);
    expect(trigger.json().error.code).toBe("trigger_not_allowed");
    expect((await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: created.token })).status).toBe(200);
  });

  it("DELETE revokes, effective on the next request", async () => {
    const created = (await create("bob", { name: "to revoke", grants: [{ project_id: "priv" }] })).json();
    expect((await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: created.token })).status).toBe(200);
    const revoked = await api("DELETE", `/api/v1/mcp/tokens/${created.id}`, { credential: sessions.bob });
    expect(revoked.status).toBe(200);
    expect(revoked.json()).toMatchObject({ id: created.id, revoked_at: iso(NOW) });
    const hitsBefore = upstream.hits.length;
    const after = await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: created.token });
    expect(after.status).toBe(401);
    expect(after.json().error.code).toBe("revoked_token");
    expect(after.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect(upstream.hits.length).toBe(hitsBefore);
    expect((await api("GET", `/api/v1/mcp/tokens/${created.id}`, { credential: sessions.bob })).json().revoked_at).toBe(iso(NOW));
  });
});

describe("temp token and exchange", () => {
  const grants = [{ project_id: "priv", allow_trigger: true }];
  const temp = async (): Promise<{ temp_token: string; expires_at: string }> => {
    const res = await api("POST", "/api/v1/mcp/tokens/temp", { credential: sessions.bob });
    expect(res.status).toBe(201);
    return res.json();
  };

  it("issues a temp token valid for 10 minutes, exchanged once without any other credential", async () => {
    const t = await temp();
    expect(t.temp_token).toMatch(/^tg_tmp_/);
    expect(t.expires_at).toBe(iso(NOW + 600));
    const exchanged = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: "from exchange", grants } });
    expect(exchanged.status).toBe(201);
    expect(exchanged.json()).toMatchObject({ type: "mcp", name: "from exchange", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: true }] });
    expect((await api("GET", "/api/v1/mcp/projects/priv/builds", { credential: exchanged.json().token })).status).toBe(200);

    const again = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: "again", grants } });
    expect(again.status).toBe(401);
    expect(again.json().error.code).toBe("invalid_token");
  });

  it("stores only the temp token's hash", async () => {
    const t = await temp();
    const store = gw.world.tollgate.backends.tempTokens as MemoryTempTokenStore;
    const held = JSON.stringify([...(store as unknown as { byHash: Map<string, unknown> }).byHash]);
    expect(held).toContain(hashToken(t.temp_token));
    expect(held).not.toContain(t.temp_token);
  });

  it("a temp token needs a session to be made", async () => {
    expect((await api("POST", "/api/v1/mcp/tokens/temp")).status).toBe(401);
    expect((await api("POST", "/api/v1/mcp/tokens/temp", { credential: gw.world.tokens.bobMcp })).status).toBe(403);
  });

  it("a temp token is refused as a bearer credential", async () => {
    const t = await temp();
    for (const path of ["/api/v1/mcp/projects/priv/builds", "/api/v1/mcp/tokens", "/api/v1/projects/priv/builds"]) {
      const res = await api("GET", path, { credential: t.temp_token });
      expect(res.status, path).toBe(401);
      expect(res.json().error.code, path).toBe("invalid_token");
    }
    // It was not consumed by being shown around.
    expect((await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: "x", grants } })).status).toBe(201);
  });

  it("refuses a temp token past its 10 minutes (401), and accepts one just before", async () => {
    const late = await temp();
    const early = await temp();
    const after = await serveAt(NOW + 601);
    const before = await serveAt(NOW + 599);
    const res = await call(after, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: late.temp_token, name: "late", grants } });
    expect(res.status).toBe(401);
    expect(res.json().error.code).toBe("invalid_token");
    expect((await call(before, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: early.temp_token, name: "early", grants } })).status).toBe(201);
  });

  it("applies the grant rules to the temp token's user at the exchange", async () => {
    const t = await temp();
    const res = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: "x", grants: [{ project_id: "pub" }] } });
    expect(res.status).toBe(403);
    expect(res.json().error.code).toBe("not_collaborator");
  });

  it("refuses what is not a temp token, and an exchange made with an MCP token", async () => {
    const notTemp = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: gw.world.tokens.bobMcp, name: "x", grants } });
    expect(notTemp.status).toBe(400);
    const t = await temp();
    const withMcp = await api("POST", "/api/v1/mcp/tokens/exchange", { credential: gw.world.tokens.bobMcp, body: { temp_token: t.temp_token, name: "x", grants } });
    expect(withMcp.status).toBe(403);
    const unknown = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: generateToken("temp").value, name: "x", grants } });
    expect(unknown.status).toBe(401);
    const malformed = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: "tg_tmp_" + "0".repeat(49), name: "x", grants } });
    expect(malformed.status).toBe(400);
  });

  it("a refused exchange leaves the temp token usable for a correct one", async () => {
    const t = await temp();
    const exchange = (body: Record<string, unknown>) => api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, ...body } });
    const refusals: Array<[string, Record<string, unknown>, number, string]> = [
      ["a grant on a project bob does not collaborate on", { name: "x", grants: [{ project_id: "pub" }] }, 403, "not_collaborator"],
      ["a grant on an unknown project", { name: "x", grants: [{ project_id: "nope" }] }, 403, "not_collaborator"],
      ["an expiry in the past", { name: "x", grants, expires_at: iso(NOW - 1) }, 400, "invalid_request"],
      ["an expiry of now", { name: "x", grants, expires_at: iso(NOW) }, 400, "invalid_request"],
      ["a malformed expiry", { name: "x", grants, expires_at: "tomorrow" }, 400, "invalid_request"],
      ["a name with a control character", { name: "a\u0001b", grants }, 400, "invalid_request"],
      ["a blank name", { name: "   ", grants }, 400, "invalid_request"],
      ["a name too long", { name: "n".repeat(101), grants }, 400, "invalid_request"],
      ["an unknown field", { name: "x", grants, scopes: ["read"] }, 400, "invalid_request"],
      ["two grants for one project", { name: "x", grants: [{ project_id: "priv" }, { project_id: "priv" }] }, 400, "invalid_request"],
    ];
    for (const [label, body, status, code] of refusals) {
      const res = await exchange(body);
      expect(res.status, label).toBe(status);
      expect(res.json().error.code, label).toBe(code);
    }
    const ok = await exchange({ name: "after refusals", grants, expires_at: iso(NOW + 3600) });
    expect(ok.status).toBe(201);
    expect(ok.json()).toMatchObject({ name: "after refusals", user_id: "bob" });
    expect((await exchange({ name: "again", grants })).status).toBe(401);
  });

  it("a refused exchange for a user demoted after the temp token was made: still usable once the grant fits", async () => {
    const dir = gw.world.tollgate.facts.directoryStore;
    await dir.putUser({ id: "gina", system_role: "user" });
    await dir.setCollaborator("priv", "gina", "Developer");
    const t = (await api("POST", "/api/v1/mcp/tokens/temp", { credential: await gw.world.session("gina") })).json().temp_token as string;
    await dir.putUser({ id: "gina", system_role: "viewer" });
    const trigger = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t, name: "x", grants: [{ project_id: "priv", allow_trigger: true }] } });
    expect(trigger.status).toBe(403);
    const read = await api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t, name: "x", grants: [{ project_id: "priv" }] } });
    expect(read.status).toBe(201);
  });

  it("100 concurrent exchanges of one temp token: exactly one succeeds (in-memory store)", async () => {
    const t = await temp();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => api("POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: `race ${i}`, grants } })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(99);
  });
});

describe("live temp tokens per user", () => {
  const user = async (id: string): Promise<string> => {
    await gw.world.tollgate.facts.directoryStore.putUser({ id, system_role: "user" });
    await gw.world.tollgate.facts.directoryStore.setCollaborator("priv", id, "Developer");
    return gw.world.session(id);
  };
  const makeTemp = (base: string, session: string) => call(base, "POST", "/api/v1/mcp/tokens/temp", { credential: session });

  it("the 6th live temp token is 429 rate_limited, Retry-After until the oldest expires; exchange or expiry makes room", async () => {
    const session = await user("hank");
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await makeTemp(gw.url, session);
      expect(res.status).toBe(201);
      made.push(res.json().temp_token);
    }
    const sixth = await makeTemp(gw.url, session);
    expect(sixth.status).toBe(429);
    expect(sixth.json().error.code).toBe("rate_limited");
    expect(sixth.headers["retry-after"]).toBe("600");
    // Another user is not affected.
    expect((await makeTemp(gw.url, sessions.alice)).status).toBe(201);

    const later = await serveAt(NOW + 120);
    const stillFull = await makeTemp(later, session);
    expect(stillFull.status).toBe(429);
    expect(stillFull.headers["retry-after"]).toBe("480");

    expect((await call(later, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: made[0], name: "x", grants: [] } })).status).toBe(201);
    expect((await makeTemp(later, session)).status).toBe(201); // made at NOW + 120, expires at NOW + 720
    expect((await makeTemp(later, session)).status).toBe(429);

    const afterExpiry = await serveAt(NOW + 600);
    const res = await makeTemp(afterExpiry, session);
    expect(res.status).toBe(201); // the four made at NOW have expired; one live left
    expect((await makeTemp(afterExpiry, session)).status).toBe(201);
  });

  it("20 concurrent requests: exactly 5 × 201, the rest 429 (in-memory store)", async () => {
    const session = await user("ivan");
    const statuses = (await Promise.all(Array.from({ length: 20 }, () => makeTemp(gw.url, session)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});

describe("the token's audit", () => {
  it("lists the token's gateway requests, newest first, to its owner only", async () => {
    const created = (await create("bob", { name: "audited", grants: [{ project_id: "priv" }] })).json();
    const made = [
      await api("GET", "/api/v1/mcp/projects/priv/builds?page=2", { credential: created.token }),
      await api("GET", "/api/v1/mcp/projects/pub/builds", { credential: created.token }),
      await api("POST", "/api/v1/mcp/projects/priv/trigger", { credential: created.token }),
    ];
    expect(made.map((r) => r.status)).toEqual([200, 403, 403]);
    await gw.world.tollgate.backends.audit.flush();

    const res = await api("GET", `/api/v1/mcp/tokens/${created.id}/audit`, { credential: sessions.bob });
    expect(res.status).toBe(200);
    const { records, next_cursor } = res.json();
    expect(next_cursor).toBeNull();
    expect(records.map((r: { decision_id: string }) => r.decision_id)).toEqual(made.map((r) => r.headers["x-tollgate-decision-id"]).reverse());
    expect(records[2]).toMatchObject({ source: "gateway", token_id: created.id, user_id: "bob", subject_type: "mcp_token", method: "GET", path: "/api/v1/mcp/projects/priv/builds", allow: true, status: 200, upstream_status: 200 });
    expect(records[1]).toMatchObject({ allow: false, status: 403, reasons: ["grant_missing"], upstream_status: null });
    expect(records[0]).toMatchObject({ method: "POST", allow: false, reasons: ["trigger_not_allowed"] });
    expect(res.body).not.toContain(created.token);

    const page = await api("GET", `/api/v1/mcp/tokens/${created.id}/audit?limit=2`, { credential: sessions.bob });
    expect(page.json().records).toHaveLength(2);
    const rest = await api("GET", `/api/v1/mcp/tokens/${created.id}/audit?limit=2&cursor=${encodeURIComponent(page.json().next_cursor)}`, { credential: sessions.bob });
    expect(rest.json().records.map((r: { decision_id: string }) => r.decision_id)).toEqual([made[0]!.headers["x-tollgate-decision-id"]]);

    const denied = await api("GET", `/api/v1/mcp/tokens/${created.id}/audit?allow=false`, { credential: sessions.bob });
    expect(denied.json().records.map((r: { allow: boolean }) => r.allow)).toEqual([false, false]);
    // The owner's view is always this token's: no peeking at other tokens or users.
    for (const query of [`token_id=${gw.world.tokenIds.bobMcp}`, "user_id=alice"]) {
      expect((await api("GET", `/api/v1/mcp/tokens/${created.id}/audit?${query}`, { credential: sessions.bob })).status, query).toBe(400);
    }

    expect((await api("GET", `/api/v1/mcp/tokens/${created.id}/audit`, { credential: sessions.alice })).status).toBe(404);
  });
});

// ------------------------------------------------------------------------------ FerretDB

describe.runIf(canStartFerretDb())("temp tokens on FerretDB (Mongo temp-token store)", () => {
  let mongo: MongoServer;
  let onMongo: Gateway;

  beforeAll(async () => {
    mongo = await startFerretDb();
    onMongo = await startGateway({ MONGODB_URI: mongo.uri, MONGODB_DB: mongo.dbName, TOLLGATE_UPSTREAM_URL: upstream.url });
    expect(onMongo.world.tollgate.backends.describe.facts).toBe("mongodb");
    for (const deadline = Date.now() + 90_000; (await request(onMongo.world.tollgate.app).get("/readyz")).status !== 200; ) {
      if (Date.now() > deadline) throw new Error("Tollgate on FerretDB not ready within 90 s");
      await sleep(250);
    }
  });

  afterAll(async () => {
    await onMongo?.close();
    await mongo?.stop();
  });

  it("stores only the hash, and 100 concurrent exchanges of one temp token: exactly one succeeds", async () => {
    const session = await onMongo.world.session("bob");
    const t = (await call(onMongo.url, "POST", "/api/v1/mcp/tokens/temp", { credential: session })).json() as { temp_token: string };

    const client = new MongoClient(mongo.uri);
    try {
      const docs = await client.db(mongo.dbName).collection(COLLECTIONS.tempTokens).find({}).toArray();
      expect(docs).toHaveLength(1);
      expect(docs[0]).toMatchObject({ hash: hashToken(t.temp_token), user_id: "bob" });
      expect(JSON.stringify(docs)).not.toContain(t.temp_token);

      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          call(onMongo.url, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: t.temp_token, name: `race ${i}`, grants: [{ project_id: "priv" }] } }),
        ),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 401)).toHaveLength(99);
      expect(await client.db(mongo.dbName).collection(COLLECTIONS.tempTokens).countDocuments({})).toBe(0);

      const winner = results.find((r) => r.status === 201)!.json();
      const refused = (await call(onMongo.url, "POST", "/api/v1/mcp/tokens/temp", { credential: session })).json() as { temp_token: string };
      expect((await call(onMongo.url, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: refused.temp_token, name: "x", grants: [{ project_id: "pub" }] } })).status).toBe(403);
      expect((await call(onMongo.url, "POST", "/api/v1/mcp/tokens/exchange", { body: { temp_token: refused.temp_token, name: "kept", grants: [{ project_id: "priv" }] } })).status).toBe(201);
      expect((await call(onMongo.url, "GET", "/api/v1/mcp/projects/priv/builds", { credential: winner.token })).status).toBe(200);
      const list = (await call(onMongo.url, "GET", "/api/v1/mcp/tokens", { credential: session })).json().tokens as Array<{ name: string }>;
      expect(list.filter((tk) => tk.name.startsWith("race "))).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it("20 concurrent temp-token requests of one user: exactly 5 × 201, the rest 429", async () => {
    const session = await onMongo.world.session("alice");
    const results = await Promise.all(Array.from({ length: 20 }, () => call(onMongo.url, "POST", "/api/v1/mcp/tokens/temp", { credential: session })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    expect(results.find((r) => r.status === 429)!.headers["retry-after"]).toBe("600");
  });
});
