// Several upstreams behind one gateway (TOLLGATE_UPSTREAMS, issue 12 §1): the longest matching
// prefix serves a request, each upstream over its own connection pool, and the policy's route
// table still decides every path.
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../http/fixture.js";
import { send, startGateway, startUpstream, type Gateway, type Upstream } from "./helpers.js";

const BUILDS = "/api/v1/projects/priv/builds";
const MCP = "/api/v1/mcp/projects/priv/mcp";
let api: Upstream;
let mcp: Upstream;
/** Connections each upstream accepted. */
const connections = new Map<Upstream, number>();
let gw: Gateway;

beforeAll(async () => {
  [api, mcp] = await Promise.all([startUpstream(), startUpstream()]);
  for (const u of [api, mcp]) {
    connections.set(u, 0);
    u.server.on("connection", (_: Socket) => connections.set(u, connections.get(u)! + 1));
  }
  // The longer prefix listed first and last must not matter: listed after /api/ here.
  gw = await startGateway({
    TOLLGATE_UPSTREAMS: JSON.stringify([
      { name: "api", prefix: "/api/", url: api.url, auth: "identity-headers" },
      { name: "mcp", prefix: "/api/v1/mcp/", url: `${mcp.url}/base`, auth: "identity-headers" },
      { name: "extra", prefix: "/api/extra/", url: api.url, auth: "identity-headers" },
    ]),
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([api?.close(), mcp?.close()]);
});

const get = (path: string, token = gw.world.tokens.bobGlobal) => send(gw.url, path, { headers: { authorization: bearer(token) } });
const postMcp = (id: number) =>
  send(gw.url, MCP, {
    method: "POST",
    headers: { authorization: bearer(gw.world.tokens.bobMcp), "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "list_builds", arguments: {} } }),
  });

describe("TOLLGATE_UPSTREAMS routing", () => {
  it("sends each request to the upstream with the longest matching prefix, the target appended to its URL's path", async () => {
    api.reset();
    mcp.reset();
    expect((await get(BUILDS)).status).toBe(200);
    expect((await postMcp(1)).status).toBe(200);
    expect(api.hits.map((h) => [h.method, h.url])).toEqual([["GET", BUILDS]]);
    expect(mcp.hits.map((h) => [h.method, h.url])).toEqual([["POST", `/base${MCP}`]]);
    expect(mcp.hits[0]!.headers["x-tollgate-user"]).toBe("bob");
  });

  it("keeps one connection pool per upstream: sequential requests reuse each upstream's connection", async () => {
    const before = { api: connections.get(api)!, mcp: connections.get(mcp)! };
    for (let i = 0; i < 4; i++) {
      expect((await get(`${BUILDS}?n=${i}`)).status).toBe(200);
      expect((await postMcp(10 + i)).status).toBe(200);
    }
    // Both pools already hold a connection from the test before; none is opened for these eight.
    expect(connections.get(api)! - before.api).toBe(0);
    expect(connections.get(mcp)! - before.mcp).toBe(0);
  });

  it("lets the route table decide: a path under a prefix without routes is unknown_route, and reaches nobody", async () => {
    api.reset();
    mcp.reset();
    const res = await get("/api/extra/anything");
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "unknown_route" } });
    const mcpUnknown = await get("/api/v1/mcp/unknown");
    expect(mcpUnknown.json()).toMatchObject({ error: { code: "unknown_route" } });
    expect(api.hits).toEqual([]);
    expect(mcp.hits).toEqual([]);
  });

  it("answers the tokens routes itself, under an upstream whose prefix is their parent", async () => {
    mcp.reset();
    const res = await get("/api/v1/mcp/tokens", await gw.world.session("bob"));
    expect(res.status).toBe(200);
    expect(mcp.hits).toEqual([]);
  });
});

describe("an allowed request under no upstream's prefix", () => {
  it("answers 503 upstream_not_configured and reaches nobody", async () => {
    const only = await startGateway({ TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "mcp", prefix: "/api/v1/mcp/", url: mcp.url, auth: "identity-headers" }]) });
    try {
      mcp.reset();
      const res = await send(only.url, BUILDS, { headers: { authorization: bearer(only.world.tokens.bobGlobal) } });
      expect(res.status).toBe(503);
      expect(res.json()).toMatchObject({ error: { code: "upstream_not_configured" } });
      expect(mcp.hits).toEqual([]);
    } finally {
      await only.close();
    }
  });
});
