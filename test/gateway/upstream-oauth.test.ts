// The gateway in front of an `oauth` upstream (issue 12 §3, the seam): the user's own upstream
// token as the only Authorization it sees; "not connected" as 403 upstream_not_connected with a
// connect_url (REST) or a JSON-RPC URL elicitation -32042 in an HTTP 200 (MCP endpoint), never a
// 401; an unreachable authorization server as 503 upstream_auth_unavailable.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { UpstreamConfig } from "../../src/config/upstreams.js";
import type { UpstreamCredential, UpstreamCredentials } from "../../src/gateway/upstream-credentials.js";
import { bearer } from "../http/fixture.js";
import { send, startGateway, startUpstream, type Gateway, type Sent, type Upstream } from "./helpers.js";

const PUBLIC_URL = "https://tollgate.example.com";
const BUILDS = "/api/v1/projects/priv/builds";
const MCP = "/api/v1/mcp/projects/priv/mcp";
const TRIGGER = "/api/v1/mcp/projects/priv/trigger";
/** Made for the caller (bob): the page refuses a browser signed in as anyone else. */
const CONNECT_URL = `${PUBLIC_URL}/oauth/upstream/tools/connect?user=bob`;
let api: Upstream;
let tools: Upstream;

beforeAll(async () => {
  [api, tools] = await Promise.all([startUpstream(), startUpstream()]);
});
afterAll(async () => {
  await Promise.all([api?.close(), tools?.close()]);
});

const env = () => ({
  TOLLGATE_PUBLIC_URL: PUBLIC_URL,
  TOLLGATE_UPSTREAMS: JSON.stringify([
    { name: "api", prefix: "/api/", url: api.url, auth: "identity-headers" },
    { name: "tools", prefix: "/api/v1/mcp/", url: tools.url, auth: "oauth", scopes: ["mcp"] },
  ]),
});

const jsonHeaders = (token: string) => ({ authorization: bearer(token), "content-type": "application/json", accept: "application/json, text/event-stream" });
const mcpCall = (gw: Gateway, id: number | string): Promise<Sent> =>
  send(gw.url, MCP, { method: "POST", headers: jsonHeaders(gw.world.tokens.bobMcp), body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "list_builds", arguments: {} } }) });
const trigger = (gw: Gateway): Promise<Sent> => send(gw.url, TRIGGER, { method: "POST", headers: jsonHeaders(gw.world.tokens.bobMcp), body: "{}" });

let gw: Gateway;
afterEach(async () => {
  await gw?.close();
  api.reset();
  tools.reset();
});

describe("an oauth upstream the user has not connected", () => {
  it("answers a REST request 403 upstream_not_connected with the connect URL, and does not forward it", async () => {
    gw = await startGateway(env());
    const res = await trigger(gw);
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json()).toEqual({
      error: { code: "upstream_not_connected", message: expect.stringMatching(/connect/) },
      connect_url: CONNECT_URL,
      decision_id: res.headers["x-tollgate-decision-id"],
    });
    expect(tools.hits).toEqual([]);
  });

  it("answers an MCP message with HTTP 200 and JSON-RPC -32042 (URL elicitation), echoing its id, never a 401", async () => {
    gw = await startGateway(env());
    const ids = new Set<string>();
    for (const id of [7, "call-8"]) {
      const res = await mcpCall(gw, id);
      expect(res.status).toBe(200);
      expect(res.headers["www-authenticate"]).toBeUndefined();
      const body = res.json();
      expect(body).toEqual({
        jsonrpc: "2.0",
        id,
        error: {
          code: -32042,
          message: expect.any(String),
          data: {
            elicitations: [{ mode: "url", elicitationId: expect.stringMatching(/^[0-9a-f-]{36}$/), url: CONNECT_URL, message: body.error.message }],
            reasons: ["upstream_not_connected"],
            decision_id: res.headers["x-tollgate-decision-id"],
          },
        },
      });
      ids.add(body.error.data.elicitations[0].elicitationId);
    }
    expect(ids.size).toBe(2);
    expect(tools.hits).toEqual([]);
  });

  it("leaves the identity-headers upstream as it was", async () => {
    gw = await startGateway(env());
    expect((await send(gw.url, BUILDS, { headers: { authorization: bearer(gw.world.tokens.bobGlobal) } })).status).toBe(200);
    expect(api.hits).toHaveLength(1);
    expect(api.hits[0]!.headers.authorization).toBeUndefined();
  });
});

/** A seam answering from a table, recording what it was asked. */
function credentials(answer: (user: string, upstream: UpstreamConfig) => UpstreamCredential | Promise<UpstreamCredential>) {
  const asked: [string, string][] = [];
  /** The tokens the upstream refused (401), as the gateway reported them. */
  const rejected: [string, string, string][] = [];
  const seam: UpstreamCredentials = {
    async credentialFor(user, upstream) {
      asked.push([user, upstream.name]);
      return answer(user, upstream);
    },
    async rejected(user, upstream, token) {
      rejected.push([user, upstream.name, token]);
      return { kind: "not_connected", connectUrl: `${PUBLIC_URL}/oauth/upstream/${upstream.name}/connect?user=${user}`, elicitationId: "00000000-0000-4000-8000-000000000001" };
    },
  };
  return { seam, asked, rejected };
}

describe("an oauth upstream the user has connected", () => {
  it("forwards with the user's upstream token as the only Authorization, identity headers still sent", async () => {
    const { seam, asked } = credentials((user) => ({ kind: "token", token: `upstream-token-of-${user}` }));
    gw = await startGateway(env(), undefined, { upstreamCredentials: seam });
    const tollgateToken = gw.world.tokens.bobMcp;
    const res = await mcpCall(gw, 1);
    expect(res.status).toBe(200);
    expect((await trigger(gw)).status).toBe(200);
    expect(asked).toEqual([
      ["bob", "tools"],
      ["bob", "tools"],
    ]);
    expect(tools.hits).toHaveLength(2);
    for (const hit of tools.hits) {
      const authorizations = hit.rawHeaders.filter((_, i) => i % 2 === 0 && hit.rawHeaders[i]!.toLowerCase() === "authorization");
      expect(authorizations).toHaveLength(1);
      expect(hit.headers.authorization).toBe("Bearer upstream-token-of-bob");
      expect(hit.headers["x-tollgate-user"]).toBe("bob");
      // The caller's Tollgate credential is in no header the upstream sees.
      expect(hit.rawHeaders.join("\n")).not.toContain(tollgateToken);
    }
    // The identity-headers upstream is never asked about nor given a token.
    expect((await send(gw.url, BUILDS, { headers: { authorization: bearer(gw.world.tokens.bobGlobal) } })).status).toBe(200);
    expect(asked).toHaveLength(2);
    expect(api.hits[0]!.headers.authorization).toBeUndefined();
  });

  it("answers 503 upstream_auth_unavailable when the authorization server cannot be reached, or the seam fails", async () => {
    for (const answer of [(): UpstreamCredential => ({ kind: "unavailable" }), (): UpstreamCredential => { throw new Error("boom"); }]) {
      gw = await startGateway(env(), undefined, { upstreamCredentials: credentials(answer).seam });
      const rest = await trigger(gw);
      expect(rest.status).toBe(503);
      expect(rest.json()).toMatchObject({ error: { code: "upstream_auth_unavailable" }, decision_id: rest.headers["x-tollgate-decision-id"] });
      expect(rest.body).not.toContain("boom");
      const rpc = await mcpCall(gw, 9);
      expect(rpc.status).toBe(503);
      expect(rpc.json()).toMatchObject({ jsonrpc: "2.0", id: 9, error: { code: -32000, data: { reasons: ["upstream_auth_unavailable"] } } });
      expect(tools.hits).toEqual([]);
      await gw.close();
    }
  });

  it("sends an oauth upstream none of Tollgate's own cookies", async () => {
    const { seam } = credentials((user) => ({ kind: "token", token: `upstream-token-of-${user}` }));
    gw = await startGateway(env(), undefined, { upstreamCredentials: seam });
    const res = await send(gw.url, TRIGGER, { method: "POST", headers: { ...jsonHeaders(gw.world.tokens.bobMcp), cookie: "__Host-tollgate_session=s; _session=o; _session.sig=g; theme=dark" }, body: "{}" });
    expect(res.status).toBe(200);
    expect(tools.hits[0]!.headers.cookie).toBe("theme=dark");
  });

  it("passes on none of an oauth upstream's own challenge or cookies", async () => {
    const { seam } = credentials((user) => ({ kind: "token", token: `upstream-token-of-${user}` }));
    gw = await startGateway(env(), undefined, { upstreamCredentials: seam });
    for (const code of [200, 403]) {
      const res = await send(gw.url, `${TRIGGER}?mode=challenge&code=${code}`, { method: "POST", headers: jsonHeaders(gw.world.tokens.bobMcp), body: "{}" });
      expect(res.status).toBe(code);
      expect(res.headers["www-authenticate"]).toBeUndefined();
      expect(res.headers["set-cookie"]).toBeUndefined();
    }
    // An identity-headers upstream's headers are its own business, as before.
    const api200 = await send(gw.url, `${BUILDS}?mode=challenge&code=200`, { headers: { authorization: bearer(gw.world.tokens.bobGlobal) } });
    expect(api200.headers["set-cookie"]).toEqual(["upstream_session=s1; Path=/"]);
  });

  it("an upstream 401 to the user's token forgets it and answers as not connected (REST 403, MCP -32042), none of the 401 sent", async () => {
    const { seam, rejected } = credentials((user) => ({ kind: "token", token: `upstream-token-of-${user}` }));
    gw = await startGateway(env(), undefined, { upstreamCredentials: seam });
    const rest = await send(gw.url, `${TRIGGER}?mode=challenge&code=401`, { method: "POST", headers: jsonHeaders(gw.world.tokens.bobMcp), body: "{}" });
    expect(rest.status).toBe(403);
    expect(rest.headers["www-authenticate"]).toBeUndefined();
    expect(rest.headers["set-cookie"]).toBeUndefined();
    expect(rest.json()).toEqual({ error: { code: "upstream_not_connected", message: expect.any(String) }, connect_url: CONNECT_URL, decision_id: rest.headers["x-tollgate-decision-id"] });
    const rpc = await send(gw.url, MCP, { method: "POST", headers: { ...jsonHeaders(gw.world.tokens.bobMcp), "x-upstream-mode": "challenge", "x-upstream-code": "401" }, body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" }) });
    expect(rpc.status).toBe(200);
    expect(rpc.headers["www-authenticate"]).toBeUndefined();
    expect(rpc.json()).toMatchObject({ jsonrpc: "2.0", id: 5, error: { code: -32042, data: { elicitations: [{ mode: "url", url: CONNECT_URL }], reasons: ["upstream_not_connected"] } } });
    expect(rejected).toEqual([
      ["bob", "tools", "upstream-token-of-bob"],
      ["bob", "tools", "upstream-token-of-bob"],
    ]);
    expect(tools.hits).toHaveLength(2);
  });

  it("refuses a caller without a user (a project token): there is no account to connect", async () => {
    const { seam, asked } = credentials(() => ({ kind: "token", token: "never" }));
    gw = await startGateway(
      { ...env(), TOLLGATE_UPSTREAMS: JSON.stringify([{ name: "api", prefix: "/api/", url: api.url, auth: "oauth" }]) },
      undefined,
      { upstreamCredentials: seam },
    );
    const res = await send(gw.url, BUILDS, { headers: { authorization: bearer(gw.world.tokens.privateProject) } });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: "upstream_not_connected" } });
    expect(res.json().connect_url).toBeUndefined();
    expect(asked).toEqual([]);
    expect(api.hits).toEqual([]);
  });
});
