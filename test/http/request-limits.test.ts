// Header-field limits on every endpoint, sent as raw bytes: Node itself keeps only the first of
// duplicate Authorization fields and drops fields past its own cap, so only the raw header list
// shows what the client sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "./fixture.js";
import { rawRequest, startGateway, startUpstream, type Gateway, type Upstream } from "../gateway/helpers.js";

let upstream: Upstream;
let gw: Gateway;
let small: Gateway;
let bobSession: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  small = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_MAX_HEADER_FIELDS: "10" });
  bobSession = await gw.world.session("bob");
});

afterAll(async () => {
  await Promise.allSettled([gw?.close(), small?.close()]);
  await upstream?.close();
});

/** One request on every kind of endpoint: [request line, header fields it needs, body]. */
const endpoints = (): Array<[string, string[], string]> => [
  ["GET /api/v1/projects/pub/builds HTTP/1.1", [], ""],
  ["GET /v1/forward-auth HTTP/1.1", ["X-Original-Method: GET", "X-Original-URI: /api/v1/projects/pub/builds"], ""],
  ["POST /v1/authorize HTTP/1.1", ["Content-Type: application/json"], JSON.stringify({ method: "GET", path: "/api/v1/projects/pub/builds" })],
  ["GET /v1/admin/tokens/tok_none HTTP/1.1", [`Authorization: Bearer ${ADMIN_TOKEN}`], ""],
  ["GET /healthz HTTP/1.1", [], ""],
  ["GET /no/such/endpoint HTTP/1.1", [], ""],
];

/** A request whose header section holds exactly `fields` fields (Host and Content-Length included). */
function withFields(line: string, needed: string[], body: string, fields: number, extra: string[] = []): string {
  const base = ["Host: x", ...needed, ...extra, ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : [])];
  // Short fields, so thousands stay under Node's 16 KiB header size limit.
  const padding = Array.from({ length: fields - base.length }, () => "p:1");
  return `${line}\r\n${[...base, ...padding].join("\r\n")}\r\n\r\n${body}`;
}

interface Answer {
  status: number;
  body: { error?: { code?: string } } | null;
}

async function ask(port: number, raw: string): Promise<Answer> {
  const result = await rawRequest(port, raw, { expectResponses: 1, waitMs: 5_000 });
  expect(result.statuses, result.text).toHaveLength(1);
  const body = result.text.slice(result.text.indexOf("\r\n\r\n") + 4);
  let parsed: Answer["body"] = null;
  try {
    parsed = JSON.parse(body) as Answer["body"];
  } catch {
    parsed = null;
  }
  return { status: result.statuses[0]!, body: parsed };
}

describe("TOLLGATE_MAX_HEADER_FIELDS", () => {
  it("admits exactly the limit (100 by default) and answers 431 too_many_headers to one field more, on every endpoint", async () => {
    for (const [line, needed, body] of endpoints()) {
      const atLimit = await ask(gw.port, withFields(line, needed, body, 100));
      expect(atLimit.status, line).not.toBe(431);
      const over = await ask(gw.port, withFields(line, needed, body, 101));
      expect(over.status, line).toBe(431);
      expect(over.body?.error?.code, line).toBe("too_many_headers");
    }
  });

  it("counts every field of a long list (Node's parser stops collecting at its own cap)", async () => {
    const answer = await ask(gw.port, withFields("GET /api/v1/projects/pub/builds HTTP/1.1", [], "", 2_500));
    expect(answer).toMatchObject({ status: 431, body: { error: { code: "too_many_headers" } } });
  });

  it("follows the configured limit", async () => {
    const [line, needed, body] = endpoints()[0]!;
    expect((await ask(small.port, withFields(line, needed, body, 10))).status).toBe(200);
    expect(await ask(small.port, withFields(line, needed, body, 11))).toMatchObject({ status: 431, body: { error: { code: "too_many_headers" } } });
  });

  it("a refused request never reaches the upstream", async () => {
    upstream.reset();
    await ask(gw.port, withFields("GET /api/v1/projects/priv/builds HTTP/1.1", [`Authorization: Bearer ${bobSession}`], "", 101));
    expect(upstream.hits).toEqual([]);
  });
});

describe("duplicate Authorization fields", () => {
  const pairs = (): string[][] => [
    [`Authorization: Bearer ${bobSession}`, `Authorization: Bearer ${bobSession}`],
    [`Authorization: Bearer ${bobSession}`, "authorization: Bearer tg_g_forged"],
    ["AUTHORIZATION: Bearer tg_g_forged", `Authorization: Bearer ${bobSession}`],
    [`Authorization: Bearer ${bobSession}`, "Authorization:"],
  ];

  it("two or more Authorization fields are 400 invalid_request on every endpoint", async () => {
    for (const [line, needed, body] of endpoints()) {
      for (const pair of pairs()) {
        const answer = await ask(gw.port, withFields(line, needed.filter((h) => !/^authorization:/i.test(h)), body, 10, pair));
        expect(answer.status, `${line} ${pair.join(" + ")}`).toBe(400);
        expect(answer.body?.error?.code, line).toBe("invalid_request");
      }
    }
  });

  it("three fields too, and none of them reaches the upstream", async () => {
    upstream.reset();
    const three = Array.from({ length: 3 }, () => `Authorization: Bearer ${bobSession}`);
    const answer = await ask(gw.port, withFields("GET /api/v1/projects/priv/builds HTTP/1.1", [], "", 10, three));
    expect(answer).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
    expect(upstream.hits).toEqual([]);
  });

  it("one Authorization field is decided as usual", async () => {
    const answer = await ask(gw.port, withFields("GET /api/v1/projects/priv/builds HTTP/1.1", [`Authorization: Bearer ${bobSession}`], "", 10));
    expect(answer.status).toBe(200);
  });
});
