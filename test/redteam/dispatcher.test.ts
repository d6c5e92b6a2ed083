// Red-team cases for the node:http dispatcher and what it hands on (the gateway's local routes,
// the decision endpoints): every allowed request leaves its audit record, whatever the client does.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/audit/types.js";
import { deferred, rawRequest, startGateway, startUpstream, waitFor, type Gateway, type Upstream } from "../gateway/helpers.js";

let upstream: Upstream;
let gw: Gateway;
let bob: string;
beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  bob = await gw.world.session("bob");
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

let open = -1;
/** The gateway server's open connections, as last counted (polled by waitFor). */
function connections(): number {
  gw.server.getConnections((_err, count) => (open = count));
  return open;
}

async function gatewayRecords(): Promise<AuditRecord[]> {
  const audit = gw.world.tollgate.backends.audit;
  await audit.flush();
  return (await audit.query({ limit: 100 })).records.filter((r) => r.source === "gateway");
}

describe("the gateway's local routes (MCP token self-service)", () => {
  // The record was written on the response's `finish`, which never comes when the client goes
  // away first: the route still acted (here: issued a temp token), and nothing was audited.
  it("an allowed request whose client went away before the answer still leaves its record", async () => {
    const tempTokens = gw.world.tollgate.backends.tempTokens;
    const create = tempTokens.create.bind(tempTokens);
    const slow = deferred();
    let acting = false;
    let issued = false;
    tempTokens.create = async (...args) => {
      acting = true;
      await slow.promise; // a slow backend: the client gives up meanwhile
      const result = await create(...args);
      issued = result.created;
      return result;
    };
    try {
      const before = (await gatewayRecords()).length;
      const socket = connect(gw.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(`POST /api/v1/mcp/tokens/temp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bob}\r\nContent-Length: 0\r\n\r\n`);
      expect(await waitFor(() => acting)).toBe(true);
      socket.destroy();
      expect(await waitFor(() => connections() === 0)).toBe(true); // the server saw the client go
      slow.resolve();
      expect(await waitFor(() => issued)).toBe(true);
      const records = await gatewayRecords();
      expect(records.length - before).toBe(1);
      expect(records[0]).toMatchObject({ method: "POST", path: "/api/v1/mcp/tokens/temp", allow: true, user_id: "bob" });
    } finally {
      tempTokens.create = create;
    }
  });
});

describe("identity the upstream could take from a header", () => {
  // Upstreams that sat behind another authenticating proxy read who the user is from its
  // headers (Authelia's Remote-User, oauth2-proxy's X-Forwarded-User and X-Auth-Request-*,
  // Grafana's X-WEBAUTH-USER, Kong's X-Consumer-*, AWS ALB's X-Amzn-Oidc-*, Azure's
  // X-MS-Client-Principal-*, IAP's X-Goog-Authenticated-*). Only Tollgate says who the caller is:
  // a client's (or a load balancer's passed-on) claim must not reach the upstream.
  const claims = [
    "Remote-User: alice",
    "Remote-Groups: admins",
    "Remote-Email: alice@example.com",
    "X-Remote-User: alice",
    "X-Forwarded-User: alice",
    "X-Forwarded-Email: alice@example.com",
    "X-Forwarded-Groups: admins",
    "X-Forwarded-Preferred-Username: alice",
    "X-Forwarded-Access-Token: forged",
    "X-Auth-Request-User: alice",
    "X-Auth-Request-Email: alice@example.com",
    "X-WEBAUTH-USER: admin",
    "X-Authenticated-User: alice",
    "X-Authenticated-Userid: alice",
    "X-Consumer-Username: alice",
    "X-Consumer-ID: alice",
    "X-Credential-Identifier: alice",
    "X-User: alice",
    "X-User-Id: alice",
    "X-Username: alice",
    "X-Amzn-Oidc-Identity: alice",
    "X-Amzn-Oidc-Data: forged",
    "X-MS-Client-Principal-Name: alice",
    "X-MS-Client-Principal: forged",
    "X-Goog-Authenticated-User-Email: accounts.google.com:alice@example.com",
  ];
  const nameOf = (line: string): string => line.slice(0, line.indexOf(":")).toLowerCase();

  it("none of them reaches the upstream, from a client or from a trusted proxy", async () => {
    const trusting = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_TRUSTED_PROXIES: "loopback" });
    try {
      for (const port of [gw.port, trusting.port]) {
        upstream.reset();
        const result = await rawRequest(port, `GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n${claims.join("\r\n")}\r\nConnection: close\r\n\r\n`, { expectResponses: 1 });
        expect(result.statuses).toEqual([200]);
        expect(upstream.hits).toHaveLength(1);
        const sent = upstream.hits[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        for (const line of claims) expect(sent, line).not.toContain(nameOf(line));
        expect(sent).toContain("x-tollgate-user");
      }
      // What a trusted proxy vouches for still passes.
      expect(upstream.hits[0]!.headers["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    } finally {
      await trusting.close();
    }
  });
});

describe("hostile requests to the hot paths (seeded, reproducible)", () => {
  // Odd methods, targets, bodies, encodings and header combinations on every path the dispatcher
  // serves and next to them: each gets a 2xx/4xx answer, never a 5xx or a dropped connection.
  it("never answer 5xx or go unanswered", async () => {
    let seed = 7;
    const pick = <T>(values: readonly T[]): T => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return values[seed % values.length]!;
    };
    const paths = ["/api/v1/projects/pub/builds", "/api/v1/mcp/tokens", "/api/v1/mcp/tokens/exchange", "/v1/authorize", "/v1/data/tollgate/authz/decision", "/v1/data/tollgate/authz/decision/allow", "/v1/data", "/v1/forward-auth", "/v1/ext-authz/api/v1/projects/pub/builds", "/api", "/v1/admin/tokens"];
    const suffixes = ["", "/", "//", "/..", "/%2e%2e", "%2F", "%", "%zz", ";x", "?a=%", "/%00", "\\", "/%C0%AF", "/%ff", "?x=\u00ff", `/${"a".repeat(300)}`, `?${"b".repeat(3000)}`, "/:x"];
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PURGE", "QUERY", "M-SEARCH", "TRACE"];
    const bodies = ["", "{}", "[]", "null", '"x"', "{", '{"input":{"method":"GET","path":"/api/v1/projects/pub/builds","headers":{"authorization":7}}}', '{"input":[]}', "\u00ff\u00fe{", `{"a":${"[".repeat(5000)}${"]".repeat(5000)}}`];
    const headers = ["", `Authorization: Bearer ${bob}\r\n`, "Authorization: Bearer x\r\n", "Content-Type: application/json\r\n", "Content-Type: application/json; charset=utf-16\r\n", "Content-Encoding: gzip\r\n", "X-Original-Method: GET\r\nX-Original-URI: /api/v1/projects/pub/builds\r\n", "X-Forwarded-Method: G3T\r\nX-Forwarded-Uri: x\r\n", "Expect: 100-continue\r\n"];
    const failures: string[] = [];
    for (let i = 0; i < 300; i++) {
      const method = pick(methods);
      const target = pick(paths) + pick(suffixes);
      const body = Buffer.from(pick(bodies), "latin1");
      const fields = pick(headers) + pick(headers);
      const head = `${method} ${target} HTTP/1.1\r\nHost: x\r\n${fields}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      const result = await rawRequest(gw.port, Buffer.concat([Buffer.from(head, "latin1"), body]), { expectResponses: 1, headOnly: method === "HEAD" });
      const status = result.statuses[0];
      if (status === undefined || status >= 500) failures.push(`${status} ${method} ${target.slice(0, 80)} ${JSON.stringify(fields)} ${body.toString("latin1").slice(0, 60)}`);
    }
    expect(failures).toEqual([]);
  });
});

describe("requests the dispatcher refuses before a decision", () => {
  // "Every gateway request and every call to a decision endpoint leaves an audit record"
  // (docs/api.md): two Authorization fields (a credential one side would judge and another
  // would use) and an over-long header list were answered without one, so such probes went unseen.
  it("leave an audit record: two Authorization fields, too many header fields", async () => {
    const audit = gw.world.tollgate.backends.audit;
    const many = Array.from({ length: 120 }, (_, i) => `X-Pad-${i}: ${i}\r\n`).join("");
    const cases = [
      { source: "gateway", target: "/api/v1/projects/priv/builds?probe=1", fields: `Authorization: Bearer ${bob}\r\nAuthorization: Bearer other\r\n`, status: 400, reason: "invalid_request" },
      { source: "gateway", target: "/api/v1/projects/priv/builds?probe=2", fields: many, status: 431, reason: "too_many_headers" },
      { source: "ext_authz", target: "/v1/ext-authz/api/v1/projects/priv/builds?probe=3", fields: `Authorization: Bearer ${bob}\r\nAuthorization: Bearer other\r\n`, status: 400, reason: "invalid_request" },
      { source: "forward_auth", target: "/v1/forward-auth?probe=4", fields: many, status: 431, reason: "too_many_headers" },
    ] as const;
    for (const [i, c] of cases.entries()) {
      const agent = `prober-${i}`;
      const result = await rawRequest(gw.port, `GET ${c.target} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${agent}\r\n${c.fields}Connection: close\r\n\r\n`, { expectResponses: 1 });
      expect(result.statuses, c.target).toEqual([c.status]);
      await audit.flush();
      const records = (await audit.query({ limit: 100 })).records.filter((r) => r.user_agent === agent);
      expect(records, c.target).toHaveLength(1);
      expect(records[0]).toMatchObject({ source: c.source, allow: false, status: c.status, reasons: [c.reason], route: null, subject_type: null, client_address: "127.0.0.1" });
      expect(records[0]!.path).toBe(c.target.slice(0, c.target.indexOf("?"))); // never the query
    }
  });
});

describe("decision-endpoint calls refused before a decision", () => {
  // A malformed call (wrong media type, a body that is not JSON or not the schema, forward-auth
  // headers missing or repeated, an ext_authz target that is not one) was answered 4xx with no
  // record: whoever probed the endpoints that way went unseen.
  it("leave an audit record with their status and error code", async () => {
    const audit = gw.world.tollgate.backends.audit;
    const cases = [
      { source: "authorize", raw: `POST /v1/authorize HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}`, status: 415, reason: "unsupported_media_type" },
      { source: "authorize", raw: `POST /v1/authorize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n{`, status: 400, reason: "malformed_json" },
      { source: "authorize", raw: `POST /v1/authorize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, status: 400, reason: "invalid_request" },
      { source: "forward_auth", raw: `GET /v1/forward-auth HTTP/1.1\r\nX-Original-URI: /api/v1/projects/priv/builds\r\n\r\n`, status: 400, reason: "invalid_request" },
      { source: "ext_authz", raw: `GET /v1/ext-authz HTTP/1.1\r\n\r\n`, status: 400, reason: "invalid_request" },
      { source: "data_api", raw: `POST /v1/data/tollgate/authz/decision HTTP/1.1\r\nContent-Length: 14\r\n\r\n{"input":null}`, status: 400, reason: "invalid_parameter" },
    ] as const;
    for (const [i, c] of cases.entries()) {
      const agent = `malformed-${i}`;
      const raw = c.raw.replace("\r\n", `\r\nHost: x\r\nUser-Agent: ${agent}\r\nConnection: close\r\n`);
      const result = await rawRequest(gw.port, raw, { expectResponses: 1 });
      expect(result.statuses, agent).toEqual([c.status]);
      await audit.flush();
      const records = (await audit.query({ limit: 100 })).records.filter((r) => r.user_agent === agent);
      expect(records, agent).toHaveLength(1);
      expect(records[0], agent).toMatchObject({ source: c.source, allow: false, status: c.status, reasons: [c.reason], route: null });
    }
  });
});
