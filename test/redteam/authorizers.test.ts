// Red-team cases for the proxy-facing decision endpoints: Envoy's ext_authz and forward auth.
// Whatever the target looks like, the answer is the policy's decision on exactly that target
// (with its audit record), or a 400 naming the problem; never a 5xx, never an allow for a target
// the gateway would refuse.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, startGateway, type Gateway } from "../gateway/helpers.js";

let gw: Gateway;
let bob: string;

beforeAll(async () => {
  gw = await startGateway({});
  bob = await gw.world.session("bob");
});

afterAll(async () => {
  await gw?.close();
});

interface Answer {
  status: number;
  head: string;
  body: string;
}

async function ask(raw: string): Promise<Answer> {
  const result = await rawRequest(gw.port, raw, { expectResponses: 1, waitMs: 5_000 });
  const at = result.text.indexOf("\r\n\r\n");
  return { status: result.statuses[0] ?? 0, head: result.text.slice(0, at), body: result.text.slice(at + 4) };
}

const extAuthz = (method: string, target: string, headers = ""): Promise<Answer> =>
  ask(`${method} /v1/ext-authz${target} HTTP/1.1\r\nHost: envoy\r\n${headers}Content-Length: 0\r\nConnection: close\r\n\r\n`);
const gateway = (method: string, target: string): Promise<Answer> => ask(`${method} /api${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe("ext_authz: targets the router would have to decode", () => {
  it("malformed percent-encoding is the policy's invalid_path denial, as on the gateway", async () => {
    for (const target of ["/api/v1/projects/%E0%A4%A/builds", "/api/v1/projects/%/builds", "/api/v1/projects/pub/builds/%zz"]) {
      const viaEnvoy = await extAuthz("GET", target);
      const direct = await gateway("GET", target.slice("/api".length));
      expect(viaEnvoy.status, target).toBe(400);
      expect(JSON.parse(viaEnvoy.body).error.code, target).toBe("invalid_path");
      expect(JSON.parse(viaEnvoy.body).decision_id, target).toEqual(expect.any(String));
      expect(direct.status, target).toBe(viaEnvoy.status);
    }
  });

  it("the prefix must end at a segment boundary", async () => {
    for (const path of ["/v1/ext-authzX/api/v1/projects/pub/builds", "/v1/ext-authz.json/api/v1/projects/pub/builds", "/v1/ext-authz%2Fapi/v1/projects/pub/builds"]) {
      const res = await ask(`GET ${path} HTTP/1.1\r\nHost: envoy\r\nConnection: close\r\n\r\n`);
      expect(res.status, path).toBe(404);
    }
  });

  it("targets that are ambiguous are refused as on the gateway (pinned)", async () => {
    for (const target of ["//api/v1/projects/pub/builds", "/api/v1/projects/pub%2Fbuilds", "/api/v1/projects/pub/../priv/builds", "/api/v1/projects/pub/builds#x", "/api/v1/projects/pub/builds/", "/api/v1/projects/%2e%2e/priv/builds"]) {
      const res = await extAuthz("GET", target);
      expect(res.status, target).toBe(400);
    }
  });

  it("a public read is allowed on any spelling of the prefix's case, the query is kept (pinned)", async () => {
    expect((await extAuthz("GET", "/api/v1/projects/pub/builds?x=1")).status).toBe(200);
    const upper = await ask(`GET /V1/EXT-AUTHZ/api/v1/projects/pub/builds HTTP/1.1\r\nHost: envoy\r\nConnection: close\r\n\r\n`);
    expect(upper.status).toBe(200);
  });

  it("a write is judged as the write Envoy names (pinned)", async () => {
    const res = await extAuthz("GET", "/api/v1/projects/pub/builds/b1/restart");
    expect(res.status).toBe(401);
    const bobs = await extAuthz("GET", "/api/v1/projects/priv/builds", `Authorization: Bearer ${bob}\r\n`);
    expect(bobs.status).toBe(200);
    expect(bobs.head).toMatch(/\r\nX-Tollgate-User: bob\r\n/i);
  });
});

describe("forward auth: header spellings and values (pinned)", () => {
  const fa = (headers: string): Promise<Answer> => ask(`GET /v1/forward-auth HTTP/1.1\r\nHost: nginx\r\n${headers}Connection: close\r\n\r\n`);

  it("header names in any case are the same header; a copy in another case is a repeat", async () => {
    expect((await fa("x-original-method: GET\r\nX-ORIGINAL-URI: /api/v1/projects/pub/builds\r\n")).status).toBe(200);
    const twice = await fa("X-Original-Method: GET\r\nx-original-method: DELETE\r\nX-Original-URI: /api/v1/projects/pub/builds\r\n");
    expect(twice.status).toBe(400);
  });

  it("an underscore spelling is not the header (it neither completes nor contradicts a pair)", async () => {
    expect((await fa("X_Original_Method: GET\r\nX-Original-URI: /api/v1/projects/pub/builds\r\n")).status).toBe(400);
    expect((await fa("X-Original-Method: GET\r\nX-Original-URI: /api/v1/projects/pub/builds\r\nX_Forwarded_Method: DELETE\r\n")).status).toBe(200);
  });

  it("absolute-form, asterisk and fragment URIs are refused", async () => {
    for (const uri of ["http://evil/api/v1/projects/pub/builds", "*", "/api/v1/projects/pub/builds#x", "api/v1/projects/pub/builds"]) {
      const res = await fa(`X-Original-Method: GET\r\nX-Original-URI: ${uri}\r\n`);
      expect(res.status, uri).toBe(400);
    }
  });

  it("a method that is not upper case is not read as the upper-case one", async () => {
    for (const method of ["get", "Get", "delete"]) {
      const res = await fa(`X-Original-Method: ${method}\r\nX-Original-URI: /api/v1/projects/pub/builds\r\n`);
      expect(res.status, method).not.toBe(200);
      expect(res.status, method).toBeLessThan(500);
    }
  });

  it("empty values and over-long URIs are 400 invalid_request", async () => {
    for (const headers of [
      "X-Original-Method: \r\nX-Original-URI: /api/v1/projects/pub/builds\r\n",
      "X-Original-Method: GET\r\nX-Original-URI: \r\n",
      `X-Original-Method: GET\r\nX-Original-URI: /api/v1/projects/pub/builds/${"x".repeat(5000)}\r\n`,
    ]) {
      const res = await fa(headers);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe("invalid_request");
    }
  });
});

describe("proxies get every identity header on an allow, so the client's copies are overwritten", () => {
  // A proxy replaces only the headers Tollgate answers with: a client's own X-Tollgate-Permissions
  // (what MCP servers gate trigger tools on) or X-Tollgate-Projects would otherwise reach the API.
  const IDENTITY = ["x-tollgate-decision-id", "x-tollgate-user", "x-tollgate-token-type", "x-tollgate-token-id", "x-tollgate-projects", "x-tollgate-permissions"];
  const headerOf = (head: string, name: string): string | undefined => {
    const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name}:`));
    return line === undefined ? undefined : line.slice(name.length + 1).trim();
  };

  it("forward auth and ext_authz: an MCP token's projects and permissions, a session's empty ones", async () => {
    // The MCP endpoint's POST is judged per message: the proxy names it in Mcp-Method.
    const mcp = `Authorization: Bearer ${gw.world.tokens.bobMcp}\r\nMcp-Method: tools/list\r\n`;
    const session = `Authorization: Bearer ${bob}\r\n`;
    const cases: Array<[Answer, Record<string, string>]> = [
      [await ask(`GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\n${mcp}X-Original-Method: POST\r\nX-Original-URI: /api/v1/mcp/projects/priv/mcp\r\nConnection: close\r\n\r\n`), { "x-tollgate-projects": "priv", "x-tollgate-permissions": "read,trigger", "x-tollgate-token-type": "mcp_token" }],
      [await extAuthz("POST", "/api/v1/mcp/projects/priv/mcp", mcp), { "x-tollgate-projects": "priv", "x-tollgate-permissions": "read,trigger" }],
      [await extAuthz("GET", "/api/v1/projects/priv/builds", session), { "x-tollgate-projects": "", "x-tollgate-permissions": "", "x-tollgate-token-id": "", "x-tollgate-user": "bob" }],
      [await extAuthz("GET", "/api/v1/projects/pub/builds"), { "x-tollgate-projects": "", "x-tollgate-permissions": "", "x-tollgate-user": "" }],
    ];
    for (const [answer, expected] of cases) {
      expect(answer.status, answer.head).toBe(200);
      for (const name of IDENTITY) expect(headerOf(answer.head, name), `${name} in ${answer.head}`).toBeDefined();
      for (const [name, value] of Object.entries(expected)) expect(headerOf(answer.head, name), name).toBe(value);
    }
  });

  it("a denial carries no identity header but the decision id", async () => {
    const denied = await extAuthz("GET", "/api/v1/projects/priv/builds");
    expect(denied.status).toBe(401);
    for (const name of IDENTITY.slice(1)) expect(headerOf(denied.head, name), name).toBeUndefined();
  });
});

