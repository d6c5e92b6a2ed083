// Raw bytes on a socket to Tollgate: framing conflicts, requests hidden in bodies, malformed
// header syntax and paths that could be read two ways. Whatever Tollgate answers, anything the
// policy denies never reaches the upstream, nothing is a 500, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, send, sleep, startGateway, startUpstream, type Gateway, type Upstream, type UpstreamHit } from "./helpers.js";

let upstream: Upstream;
let gw: Gateway;
let bobSession: string;
let aliceSession: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  bobSession = await gw.world.session("bob");
  aliceSession = await gw.world.session("alice");
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** A request the policy denies, with identity headers an upstream would trust. */
const SMUGGLED_PATH = "/api/v1/projects/priv/secrets";
const smuggled = (): string => `GET ${SMUGGLED_PATH} HTTP/1.1\r\nHost: upstream\r\nX-Tollgate-User: mallory\r\nX-Tollgate-Token-Type: user\r\n\r\n`;
const chunk = (data: string): string => `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;

interface Probe {
  statuses: number[];
  hits: UpstreamHit[];
  text: string;
}

/** Sends raw bytes, waits for the answer and for anything the upstream may still receive. */
async function probe(raw: string, expectResponses = 1, headOnly = false): Promise<Probe> {
  upstream.reset();
  const result = await rawRequest(gw.port, raw, { waitMs: 30_000, expectResponses, headOnly });
  await sleep(100);
  return { statuses: result.statuses, hits: [...upstream.hits], text: result.text };
}

/** Nothing denied got through, nothing failed inside Tollgate, and the server still answers. */
async function expectContained(p: Probe, allowedTargets: string[]): Promise<void> {
  for (const status of p.statuses) expect(status, p.text).not.toBe(500);
  const unexpected = p.hits.filter((h) => !allowedTargets.includes(h.url)).map((h) => `${h.method} ${h.url} ${JSON.stringify(h.headers)}`);
  expect(unexpected, "requests that reached the upstream without being allowed").toEqual([]);
  for (const hit of p.hits) {
    // The only identity an upstream may see is the one Tollgate added for the request it allowed.
    expect(hit.rawHeaders.join("\n") + hit.rawTrailers.join("\n")).not.toMatch(/mallory/i);
  }
  upstream.reset();
  const health = await send(gw.url, "/api/v1/projects/pub/builds");
  expect(health.status).toBe(200);
}

describe("framing conflicts", () => {
  it("refuses Content-Length together with Transfer-Encoding", async () => {
    for (const [first, second] of [
      ["Content-Length: 5", "Transfer-Encoding: chunked"],
      ["Transfer-Encoding: chunked", "Content-Length: 5"],
    ]) {
      const body = `0\r\n\r\n${smuggled()}`;
      const p = await probe(`POST /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n${first}\r\n${second}\r\n\r\n${body}`);
      expect(p.statuses, `${first} + ${second}`).toEqual([400]);
      await expectContained(p, []);
    }
  });

  it("refuses duplicate or malformed Content-Length and Transfer-Encoding values", async () => {
    const variants = [
      "Content-Length: 0\r\nContent-Length: 80",
      "Content-Length: 0, 80",
      "Content-Length: +80",
      "Content-Length: 0x50",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
      "Transfer-Encoding: xchunked",
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding : chunked",
      "Transfer-Encoding:\tchunked\u000b",
    ];
    for (const framing of variants) {
      const p = await probe(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n0\r\n\r\n${smuggled()}`, 2);
      // Either refused outright, or read as one request whose body holds the rest: never two.
      expect(p.statuses.length, framing).toBeLessThanOrEqual(1);
      await expectContained(p, ["/api/v1/projects/pub/builds"]);
    }
  });

  it("refuses a bad chunk size", async () => {
    const p = await probe(`POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`);
    expect(p.statuses).not.toContain(200);
    await expectContained(p, ["/api/v1/projects/priv/upload"]);
    expect(p.hits.filter((h) => h.complete)).toEqual([]);
  });
});

describe("a second request hidden in a body", () => {
  it("a Content-Length body reaches the upstream as a body, not as a request", async () => {
    const body = smuggled();
    const p = await probe(
      `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(p.statuses).toEqual([200]);
    expect(p.hits).toHaveLength(1);
    expect(p.hits[0]).toMatchObject({ url: "/api/v1/projects/priv/upload", body, complete: true });
    await expectContained(p, ["/api/v1/projects/priv/upload"]);
  });

  it("a chunked POST body reaches the upstream as a body, not as a request", async () => {
    const body = smuggled();
    const p = await probe(
      `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body)}0\r\n\r\n`,
    );
    expect(p.statuses).toEqual([200]);
    expect(p.hits).toHaveLength(1);
    expect(p.hits[0]).toMatchObject({ url: "/api/v1/projects/priv/upload", body, complete: true });
    await expectContained(p, ["/api/v1/projects/priv/upload"]);
  });

  it("chunked trailers do not smuggle identity headers", async () => {
    const p = await probe(
      `POST /api/v1/projects/priv/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk("data")}0\r\nX-Tollgate-User: mallory\r\nAuthorization: Bearer x\r\n\r\n`,
    );
    expect(p.statuses).toEqual([200]);
    await expectContained(p, ["/api/v1/projects/priv/upload"]);
  });

  // A GET (or DELETE) with a chunked body: Tollgate drops Transfer-Encoding as hop-by-hop, and
  // node:http does not frame a GET/DELETE body on its own, so the body went to the upstream
  // unframed and the upstream parsed it as a second request, with the identity headers in it.
  it("a chunked GET body never becomes a request of its own at the upstream (anonymous public read)", async () => {
    const body = smuggled();
    const p = await probe(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body)}0\r\n\r\n`);
    await expectContained(p, ["/api/v1/projects/pub/builds"]);
  });

  it("a chunked DELETE body never becomes a request of its own at the upstream", async () => {
    const body = smuggled();
    const p = await probe(
      `DELETE /api/v1/projects/priv/cronjobs/c1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${aliceSession}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body)}0\r\n\r\n`,
    );
    await expectContained(p, ["/api/v1/projects/priv/cronjobs/c1"]);
  });

  it("naming Content-Length in Connection does not unframe a GET body", async () => {
    const body = smuggled();
    const p = await probe(
      `GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Content-Length\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await expectContained(p, ["/api/v1/projects/pub/builds"]);
  });

  it("pipelined requests are decided one by one", async () => {
    const p = await probe(
      `GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/projects/priv/builds HTTP/1.1\r\nHost: x\r\n\r\nGET ${SMUGGLED_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\n\r\n`,
      3,
    );
    expect(p.statuses).toEqual([200, 401, 403]);
    await expectContained(p, ["/api/v1/projects/pub/builds"]);
  });
});

describe("header syntax", () => {
  it("obs-fold header lines are refused, not unfolded into a credential or an identity", async () => {
    for (const header of [`X-Note: a\r\n X-Tollgate-User: mallory`, `Authorization: Bearer\r\n ${bobSession}`, `X-Note: a\r\n\tb`]) {
      const p = await probe(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n${header}\r\n\r\n`);
      expect(p.statuses, header).not.toContain(500);
      await expectContained(p, ["/api/v1/projects/pub/builds"]);
    }
  });

  it("bare LF, NUL and spaces in names are refused or harmless", async () => {
    for (const raw of [
      `GET /api/v1/projects/pub/builds HTTP/1.1\nHost: x\nX-Tollgate-User: mallory\n\n`,
      `GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nX-Tollgate-User\u0000: mallory\r\n\r\n`,
      `GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\nX-Tollgate-User : mallory\r\n\r\n`,
      `GET /api/v1/projects/priv/builds HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer ${bobSession}\r\n\r\n`,
    ]) {
      const p = await probe(raw);
      expect(p.statuses, JSON.stringify(raw)).not.toContain(500);
      await expectContained(p, ["/api/v1/projects/pub/builds"]);
    }
  });
});

describe("protocol upgrades", () => {
  it("Upgrade (h2c, websocket) is not passed on: the upstream sees a plain request or none", async () => {
    for (const upgrade of ["Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]) {
      const p = await probe(`GET /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n\r\n`);
      expect(p.statuses, upgrade).not.toContain(101);
      for (const hit of p.hits) {
        expect(hit.headers.upgrade, upgrade).toBeUndefined();
        expect(hit.headers["http2-settings"], upgrade).toBeUndefined();
        expect(String(hit.headers.connection ?? ""), upgrade).not.toMatch(/upgrade/i);
      }
      await expectContained(p, ["/api/v1/projects/pub/builds"]);
    }
  });
});

describe("request targets", () => {
  const denied: Array<[string, string]> = [
    ["absolute-form, allowed path", "http://127.0.0.1/api/v1/projects/pub/builds"],
    ["absolute-form, other host", "http://upstream.internal/api/v1/projects/priv/secrets"],
    ["dot-dot", "/api/v1/projects/pub/builds/../../priv/builds"],
    ["dot", "/api/v1/projects/pub/./builds"],
    ["encoded dot-dot", "/api/v1/projects/pub/%2e%2e/priv/builds"],
    ["encoded dot-dot, upper case", "/api/v1/projects/pub/%2E%2E/priv/builds"],
    ["half-encoded dot-dot", "/api/v1/projects/pub/.%2e/priv/builds"],
    ["encoded slash", "/api/v1/projects/pub%2f..%2fpriv/builds"],
    ["encoded slash, upper case", "/api/v1/projects/pub%2F..%2Fpriv/builds"],
    ["encoded backslash", "/api/v1/projects/pub%5c..%5cpriv/builds"],
    ["backslash", "/api/v1/projects/pub\\..\\priv/builds"],
    ["double-encoded dot-dot", "/api/v1/projects/pub/%252e%252e/priv/builds"],
    ["empty segment", "/api//v1/projects/priv/builds"],
    ["trailing slash", "/api/v1/projects/priv/builds/"],
    ["encoded NUL", "/api/v1/projects/priv%00/builds"],
    ["parameter then dot-dot", "/api/v1/projects/pub/builds;/../../priv/builds"],
    ["needless encoding of a literal", "/api/v1/projects/pub/builds/b1/%72estart"],
    ["needless encoding, upper case", "/api/v1/projects/pub/builds/b1/%72%45start"],
    ["needless encoding of the project", "/api/v1/projects/%70riv/builds"],
    ["upper-case prefix", "/API/v1/projects/pub/builds"],
    ["mixed-case prefix", "/Api/V1/projects/pub/builds"],
    ["fragment", "/api/v1/projects/pub/builds#frag"],
  ];

  it.each(denied)("%s is denied and never reaches the upstream: %s", async (_name, target) => {
    for (const credential of [null, bobSession]) {
      const auth = credential ? `Authorization: Bearer ${credential}\r\n` : "";
      const p = await probe(`GET ${target} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
      expect(p.statuses).toHaveLength(1);
      expect(p.statuses[0], p.text).toBeGreaterThanOrEqual(400);
      await expectContained(p, []);
    }
  });

  it("the literal write route is decided as a write, its needlessly encoded spelling is a 400", async () => {
    const plain = await probe(`GET /api/v1/projects/pub/builds/b1/restart HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(plain.statuses).toEqual([401]);
    const readOnly = await probe(`GET /api/v1/projects/priv/builds/b1/restart HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.world.tokens.bobGlobalRead}\r\n\r\n`);
    expect(readOnly.statuses).toEqual([403]);
    expect(readOnly.text).toContain("insufficient_scope");
    const encoded = await probe(`GET /api/v1/projects/priv/builds/b1/%72estart HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.world.tokens.bobGlobalRead}\r\n\r\n`);
    expect(encoded.statuses).toEqual([400]);
    expect(encoded.text).toContain("invalid_path");
    // The read route with a counter in that position is a read.
    const counter = await probe(`GET /api/v1/projects/pub/builds/b1/3 HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(counter.statuses).toEqual([200]);
    expect(counter.hits.map((h) => h.url)).toEqual(["/api/v1/projects/pub/builds/b1/3"]);
    for (const p of [plain, readOnly, encoded]) await expectContained(p, []);
  });

  it("//api is not the gateway", async () => {
    const p = await probe(`GET //api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(p.statuses).toHaveLength(1);
    expect(p.statuses[0]).toBeGreaterThanOrEqual(400);
    await expectContained(p, []);
  });

  it("asterisk-form and a missing path are refused", async () => {
    for (const line of ["OPTIONS * HTTP/1.1", "GET api/v1/projects/pub/builds HTTP/1.1", "GET ? HTTP/1.1"]) {
      const p = await probe(`${line}\r\nHost: x\r\n\r\n`);
      expect(p.statuses, line).not.toContain(200);
      await expectContained(p, []);
    }
  });
});

describe("methods", () => {
  it("lowercase and unknown methods never reach the upstream", async () => {
    for (const method of ["get", "Get", "post", "GeT", "PROPFIND", "TRACE", "CONNECT", "BREW"]) {
      const target = method === "CONNECT" ? "127.0.0.1:1" : "/api/v1/projects/pub/builds";
      const p = await probe(`${method} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobSession}\r\n\r\n`);
      expect(p.statuses.every((s) => s >= 400), `${method}: ${p.text}`).toBe(true);
      await expectContained(p, []);
    }
  });

  it("HEAD is not in the route table", async () => {
    const p = await probe(`HEAD /api/v1/projects/pub/builds HTTP/1.1\r\nHost: x\r\n\r\n`, 1, true);
    expect(p.statuses).toEqual([403]);
    await expectContained(p, []);
  });
});
