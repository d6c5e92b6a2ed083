// Red-team cases for method overrides: a request judged as one method that an upstream framework
// runs as another (X-HTTP-Method-Override and its spellings, `_method` in the query). A token
// allowed to read must not get a write through. Tollgate refuses such a request on every entry
// point (the gateway, forward auth, ext-authz, /v1/authorize and the Data API) rather than judge it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { bearer } from "../http/fixture.js";
import { rawRequest, send, startGateway, startUpstream, type Gateway, type Upstream } from "../gateway/helpers.js";

let upstream: Upstream;
let gw: Gateway;
let readToken: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  readToken = gw.world.tokens.bobGlobalRead;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const HEADERS = ["X-HTTP-Method-Override: DELETE", "x-http-method: DELETE", "X-Method-Override: DELETE", "X_HTTP_Method_Override: DELETE"];
// Reads of the project (read), whose DELETE is an Owner's write.
const QUERIES = ["_method=DELETE", "a=1&_method=DELETE", "_METHOD=DELETE", "%5Fmethod=DELETE", "_%6Dethod=delete", ".method=DELETE", "_method[]=DELETE", "+_method=DELETE", "a=1;_method=DELETE"];

async function gatewayRecords(agent: string): Promise<AuditRecord[]> {
  const audit = gw.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ limit: 200 })).records.filter((r) => r.user_agent === agent);
}

describe("the gateway", () => {
  it("refuses a request carrying a method-override header (400) and never forwards it; it is audited", async () => {
    for (const [i, header] of HEADERS.entries()) {
      const before = upstream.hits.length;
      const agent = `override-header-${i}`;
      const res = await rawRequest(gw.port, `GET /api/v1/projects/priv HTTP/1.1\r\nHost: x\r\nUser-Agent: ${agent}\r\nAuthorization: ${bearer(readToken)}\r\n${header}\r\nConnection: close\r\n\r\n`, { expectResponses: 1 });
      expect(res.statuses, header).toEqual([400]);
      expect(res.text, header).toContain('"invalid_request"');
      expect(upstream.hits.slice(before), header).toEqual([]);
      expect(await gatewayRecords(agent), header).toMatchObject([{ allow: false, status: 400, reasons: ["invalid_request"], subject_type: null }]);
    }
  });

  it("refuses `_method` in the query, however spelt (400); nothing is forwarded", async () => {
    for (const query of QUERIES) {
      const before = upstream.hits.length;
      const res = await send(gw.url, `/api/v1/projects/priv?${query}`, { headers: { authorization: bearer(readToken) } });
      expect(res.status, query).toBe(400);
      const post = await send(gw.url, `/api/v1/projects/priv/upload?${query}`, { method: "POST", headers: { authorization: bearer(gw.world.tokens.bobGlobal) }, body: "x" });
      expect(post.status, query).toBe(400);
      expect(upstream.hits.slice(before), query).toEqual([]);
    }
  });

  it("still forwards parameters and headers that only look alike (pinned)", async () => {
    for (const query of ["method=DELETE", "_methods=x", "x_method=DELETE", "q=_method%3DDELETE"]) {
      const res = await send(gw.url, `/api/v1/projects/priv?${query}`, { headers: { authorization: bearer(readToken), "x-method": "DELETE" } });
      expect(res.status, query).toBe(200);
    }
  });
});

describe("forward auth and ext-authz (the proxy forwards the client's request itself)", () => {
  // nginx passes the client's headers and target to the API: Tollgate allowed the anonymous
  // read of a public project, and an API that honours the override deleted it.
  const forwardAuth = (extra: string, uri = "/api/v1/projects/pub") =>
    rawRequest(gw.port, `GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\nX-Original-Method: GET\r\nX-Original-URI: ${uri}\r\n${extra}Connection: close\r\n\r\n`, { expectResponses: 1 });
  const extAuthz = (extra: string, target = "/api/v1/projects/pub") => rawRequest(gw.port, `GET /v1/ext-authz${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`, { expectResponses: 1 });

  it("pinned: the same reads without an override are allowed", async () => {
    expect((await forwardAuth("")).statuses).toEqual([200]);
    expect((await extAuthz("")).statuses).toEqual([200]);
  });

  it("refuse a method-override header (400)", async () => {
    for (const header of HEADERS) {
      expect((await forwardAuth(`${header}\r\n`)).statuses, header).toEqual([400]);
      expect((await extAuthz(`${header}\r\n`)).statuses, header).toEqual([400]);
    }
  });

  it("refuse `_method` in the judged target's query (400)", async () => {
    for (const query of QUERIES) {
      expect((await forwardAuth("", `/api/v1/projects/pub?${query}`)).statuses, query).toEqual([400]);
      expect((await extAuthz("", `/api/v1/projects/pub?${query}`)).statuses, query).toEqual([400]);
    }
  });
});

describe("/v1/authorize and the Data API (the caller's proxy forwards the request)", () => {
  it("refuse a path whose query names `_method`, and (Data API) input.headers with an override", async () => {
    const authorize = await send(gw.url, "/v1/authorize", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ method: "GET", path: "/api/v1/projects/pub?_method=DELETE" }) });
    expect(authorize.status).toBe(400);
    expect(authorize.json().error.code).toBe("invalid_request");
    const data = await send(gw.url, "/v1/data/tollgate/authz/decision", { method: "POST", body: JSON.stringify({ input: { method: "GET", path: "/api/v1/projects/pub?%5Fmethod=DELETE" } }) });
    expect(data.status).toBe(400);
    expect(data.json().code).toBe("invalid_parameter");
    const headers = await send(gw.url, "/v1/data/tollgate/authz/decision", { method: "POST", body: JSON.stringify({ input: { method: "GET", path: "/api/v1/projects/pub", headers: { "X-HTTP-Method-Override": "DELETE" } } }) });
    expect(headers.status).toBe(400);
    expect(headers.json().code).toBe("invalid_parameter");
  });
});
