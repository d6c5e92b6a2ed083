// Red team at the gateway, on a raw socket: request lines an upstream could read as a write route
// (case, ;params, suffixes, escapes, raw bytes, absolute-form, odd methods). Whatever Node's parser
// or the policy answers, none of them reaches the upstream and none is a 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, sleep, startGateway, startUpstream, type Gateway, type Upstream } from "../gateway/helpers.js";
import { literalVariants, WRITE_VIA_GET } from "./variants.js";

let upstream: Upstream;
let gw: Gateway;
let readOnly: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"api":{"default":100000}}' });
  readOnly = gw.world.tokens.bobGlobalRead;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Sends one raw request; returns its status (0: no answer) and what reached the upstream. */
async function probe(requestLine: string, authorization?: string): Promise<{ status: number; reached: string[]; text: string }> {
  upstream.reset();
  const auth = authorization ? `Authorization: Bearer ${authorization}\r\n` : "";
  const result = await rawRequest(gw.port, Buffer.from(`${requestLine}\r\nHost: gw\r\n${auth}Connection: close\r\n\r\n`, "utf8"), { waitMs: 3_000, expectResponses: 1 });
  await sleep(20);
  return { status: result.statuses[0] ?? 0, reached: upstream.hits.map((h) => `${h.method} ${h.url}`), text: result.text };
}

describe("a write-via-GET literal spelled differently never reaches the upstream", () => {
  it("forwards the read it should, so the sweep below can fail", async () => {
    const read = await probe("GET /api/v1/projects/pub/builds/b1/1?x=restart HTTP/1.1");
    expect(read.status).toBe(200);
    expect(read.reached).toEqual(["GET /api/v1/projects/pub/builds/b1/1?x=restart"]);
  });

  it.each(WRITE_VIA_GET.map(([parent, word]) => [`${parent}/${word}`, parent, word] as const))("%s, anonymous on a public project and a read-only token", async (_name, parent, word) => {
    const leaks: string[] = [];
    for (const [project, token] of [["pub", undefined], ["priv", readOnly]] as const) {
      for (const [label, segment] of literalVariants(word)) {
        const p = await probe(`GET /api/v1/projects/${project}/${parent}/${segment} HTTP/1.1`, token);
        expect(p.status, `${label}: ${p.text.slice(0, 300)}`).not.toBe(500);
        expect(p.status, `${label}: ${p.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        leaks.push(...p.reached.map((r) => `${project} ${label}: ${r}`));
      }
    }
    expect(leaks).toEqual([]);
  });

  it.each([
    ["raw fullwidth letters", "GET /api/v1/projects/pub/builds/b1/ＲＥＳＴＡＲＴ HTTP/1.1"],
    ["a raw Kelvin sign", "GET /api/v1/projects/pub/builds/b1/\u212Aill HTTP/1.1"],
    ["a raw dotless i", "GET /api/v1/projects/pub/jobs/j1/\u0131 HTTP/1.1"],
    ["a raw tab before the version", "GET /api/v1/projects/pub/builds/b1/restart\t HTTP/1.1"],
    ["a raw space inside", "GET /api/v1/projects/pub/builds/b1/re start HTTP/1.1"],
    ["absolute-form", "GET http://upstream/api/v1/projects/pub/builds/b1/restart HTTP/1.1"],
    ["absolute-form of a read", "GET http://upstream/api/v1/projects/pub/builds/b1/1 HTTP/1.1"],
    ["asterisk-form", "OPTIONS * HTTP/1.1"],
    ["a lower-case method", "get /api/v1/projects/pub/builds/b1/1 HTTP/1.1"],
    ["HEAD on a write route", "HEAD /api/v1/projects/pub/builds/b1/restart HTTP/1.1"],
    ["OPTIONS on a write route", "OPTIONS /api/v1/projects/pub/builds/b1/restart HTTP/1.1"],
    ["an unknown method", "FOO /api/v1/projects/pub/builds/b1/1 HTTP/1.1"],
    ["a fragment", "GET /api/v1/projects/pub/builds/b1/restart#x HTTP/1.1"],
    ["a dot segment", "GET /api/v1/projects/pub/builds/b1/x/../restart HTTP/1.1"],
    ["an encoded dot segment", "GET /api/v1/projects/pub/builds/b1/1/%2e%2E/restart HTTP/1.1"],
    ["an empty segment", "GET /api/v1/projects/pub/builds/b1//restart HTTP/1.1"],
    ["a trailing slash", "GET /api/v1/projects/pub/builds/b1/restart/ HTTP/1.1"],
    ["a case variant of the prefix", "GET /API/v1/projects/pub/builds/b1/restart HTTP/1.1"],
    ["a ten-digit counter", "GET /api/v1/projects/pub/builds/b1/1234567890 HTTP/1.1"],
  ])("%s never reaches the upstream", async (_name, line) => {
    const p = await probe(line);
    expect(p.status, p.text.slice(0, 300)).not.toBe(500);
    expect(p.reached).toEqual([]);
  });
});
