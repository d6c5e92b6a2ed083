// Red-team cases for the gateway: what the upstream receives versus what the policy judged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, sleep, startGateway, startUpstream, type Gateway, type Upstream, type UpstreamHit } from "../gateway/helpers.js";

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

/** Sends raw bytes; returns the statuses and every request the upstream received. */
async function through(raw: string, expectResponses = 1): Promise<{ statuses: number[]; hits: UpstreamHit[] }> {
  upstream.reset();
  const result = await rawRequest(gw.port, raw, { expectResponses, waitMs: 5_000 });
  await sleep(50);
  return { statuses: result.statuses, hits: [...upstream.hits] };
}

const names = (hit: UpstreamHit): string[] => hit.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

describe("headers an upstream framework reads as the client, the host or its proxy", () => {
  // Rails' remote_ip reads Client-IP, Akamai/Cloudflare/Fastly set their own, some stacks read
  // X-Original-Host/X-Host as the host, Envoy's X-Envoy-Original-Path as the path, and CGI maps
  // `Proxy` to HTTP_PROXY (httpoxy). Only Tollgate may say who the client is.
  const spoofed = [
    "Client-IP: 198.51.100.7",
    "True-Client-IP: 198.51.100.7",
    "X-Client-IP: 198.51.100.7",
    "X-Cluster-Client-IP: 198.51.100.7",
    "CF-Connecting-IP: 198.51.100.7",
    "Fastly-Client-IP: 198.51.100.7",
    "X-Originating-IP: 198.51.100.7",
    "X-Remote-IP: 198.51.100.7",
    "X-Remote-Addr: 198.51.100.7",
    "X-Original-Host: evil.example",
    "X-Host: evil.example",
    "X-Envoy-Original-Path: /api/v1/projects/priv/secrets",
    "Proxy: http://evil.example:3128",
  ];

  it("none of them reaches the upstream", async () => {
    const { statuses, hits } = await through(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: tollgate.test\r\n${spoofed.join("\r\n")}\r\nConnection: close\r\n\r\n`);
    expect(statuses).toEqual([200]);
    expect(hits).toHaveLength(1);
    for (const line of spoofed) expect(names(hits[0]!), line).not.toContain(line.slice(0, line.indexOf(":")).toLowerCase());
    expect(hits[0]!.rawHeaders.join("\n")).not.toMatch(/198\.51\.100\.7|evil\.example|secrets/);
  });
});

describe("what the upstream receives is what was judged (pinned)", () => {
  it("an allowed write reaches the upstream with its method, target and body, framed once", async () => {
    const body = "hello";
    const { statuses, hits } = await through(
      `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bob}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext="a"\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(statuses).toEqual([200]);
    expect(hits.map((h) => [h.method, h.url, h.body])).toEqual([["POST", "/api/v1/projects/priv/upload", body]]);
    expect(hits[0]!.headers["content-length"]).toBeUndefined();
    expect(names(hits[0]!)).not.toContain("authorization");
  });

  it("a Content-Length with leading zeros is forwarded as the length it means", async () => {
    const { statuses, hits } = await through(`POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bob}\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello`);
    expect(statuses).toEqual([200]);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.body).toBe("hello");
    expect(hits[0]!.headers["content-length"]).toBe("5");
  });

  it("a denied request's Content-Length body never reaches the upstream; the next pipelined request is decided on its own", async () => {
    const hidden = "GET /api/v1/projects/pub/builds HTTP/1.1\r\n\r\n";
    const { statuses, hits } = await through(
      `GET /api/v1/projects/priv/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}GET /api/v1/projects/pub/builds?second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      2,
    );
    expect(statuses).toEqual([401, 200]);
    expect(hits.map((h) => h.url)).toEqual(["/api/v1/projects/pub/builds?second"]);
  });

  it("an absolute-form target is judged as written and refused, whatever its path", async () => {
    const { statuses, hits } = await through(`GET http://upstream/api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statuses).toEqual([400]);
    expect(hits).toEqual([]);
  });

  it("a fragment in the target is refused, not cut off by one side and kept by the other", async () => {
    const { statuses, hits } = await through(`GET /api/v1/projects/pub/builds#/../../priv/secrets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statuses).toEqual([400]);
    expect(hits).toEqual([]);
  });
});

describe("requests pipelined behind an answer that closes the connection", () => {
  // RFC 9112 §9.6: after a response with `Connection: close` the server processes no further
  // request on that connection. Node had already emitted them: a pipelined write was executed
  // (its answer never sent) behind a denial that closed the connection.
  it("are not processed: nothing queued after a denied chunked body reaches the upstream", async () => {
    const denied = `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`;
    const write = `POST /api/v1/projects/priv/upload?pipelined HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bob}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;
    const read = `GET /api/v1/projects/pub/builds?pipelined HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    for (const next of [write, read]) {
      const { statuses, hits } = await through(denied + next, 2);
      expect(statuses).toEqual([401]);
      expect(hits.map((h) => h.url)).toEqual([]);
    }
  });

  it("behind a kept-alive answer they are all processed, in order (pinned)", async () => {
    const read = (n: number, last = false) => `GET /api/v1/projects/pub/builds?n=${n} HTTP/1.1\r\nHost: x\r\n${last ? "Connection: close\r\n" : ""}\r\n`;
    const { statuses, hits } = await through(`${read(1)}GET /api/v1/projects/priv/secrets HTTP/1.1\r\nHost: x\r\n\r\n${read(2)}${read(3, true)}`, 4);
    expect(statuses).toEqual([200, 401, 200, 200]);
    expect(hits.map((h) => h.url)).toEqual(["/api/v1/projects/pub/builds?n=1", "/api/v1/projects/pub/builds?n=2", "/api/v1/projects/pub/builds?n=3"]);
  });
});

describe("a Connection header naming a field Tollgate judges the request by", () => {
  // A field named in Connection is hop-by-hop: dropped on the way. Tollgate would check the MCP
  // session (or read the body as JSON, or require Mcp-Method on 2026-07-28) and the upstream act
  // on a request without it.
  const mcp = (connection: string, body: string) =>
    `POST /api/v1/mcp/projects/pub/mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: s-1\r\nMcp-Protocol-Version: 2025-11-25\r\nConnection: ${connection}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const ping = '{"jsonrpc":"2.0","id":1,"method":"ping"}';

  for (const field of ["Mcp-Session-Id", "mcp-protocol-version", "Content-Type", "Mcp-Method", "content-encoding"]) {
    it(`Connection: ${field} is refused (400 invalid_request); nothing reaches the upstream`, async () => {
      const { statuses, hits } = await through(mcp(`keep-alive, ${field}`, ping));
      expect(statuses).toEqual([400]);
      expect(hits).toEqual([]);
    });
  }

  it("on any route of the gateway, and a custom hop-by-hop field is still simply dropped (pinned)", async () => {
    expect((await through(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nConnection: close, Mcp-Protocol-Version\r\n\r\n`)).statuses).toEqual([400]);
    const { statuses, hits } = await through(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nX-Hop: 1\r\nConnection: close, X-Hop\r\n\r\n`);
    expect(statuses).toEqual([200]);
    expect(names(hits[0]!)).not.toContain("x-hop");
  });
});

describe("repeated Host fields (pinned)", () => {
  it("the upstream gets its own Host once and one X-Forwarded-Host, never the second client Host", async () => {
    const { statuses, hits } = await through(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: tollgate.test\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    if (statuses[0] === 200) {
      expect(names(hits[0]!).filter((n) => n === "host")).toHaveLength(1);
      expect(names(hits[0]!).filter((n) => n === "x-forwarded-host")).toHaveLength(1);
      expect(hits[0]!.rawHeaders.join("\n")).not.toMatch(/evil\.example/);
    } else expect(statuses[0]).toBe(400);
  });
});
