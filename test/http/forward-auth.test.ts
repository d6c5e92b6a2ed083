// GET /v1/forward-auth: which headers describe the request being judged. A pair (nginx's
// X-Original-Method + X-Original-URI, Traefik's X-Forwarded-Method + X-Forwarded-Uri) counts
// only when both its headers are present; anything partial, repeated or contradictory is 400.
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { buildWorld, type World } from "./fixture.js";

let world: World;
beforeAll(async () => {
  world = await buildWorld();
});

// An anonymous read of a public project: allowed, so a 200 shows the headers were accepted.
const READ = { method: "GET", uri: "/api/v1/projects/pub/builds" };

const HEADERS = {
  om: ["X-Original-Method", READ.method],
  ou: ["X-Original-URI", READ.uri],
  fm: ["X-Forwarded-Method", READ.method],
  fu: ["X-Forwarded-Uri", READ.uri],
} as const;
type Key = keyof typeof HEADERS;
const KEYS = Object.keys(HEADERS) as Key[];

/** Every subset of the four headers, each with the status it must get. */
const SUBSETS: Array<[string, number, Key[]]> = Array.from({ length: 16 }, (_, bits) => {
  const keys = KEYS.filter((_, i) => bits & (1 << i));
  const has = (k: Key) => keys.includes(k);
  const nginx = has("om") && has("ou");
  const traefik = has("fm") && has("fu");
  // Complete pairs only: no header of a pair without its partner.
  const onlyPairs = has("om") === has("ou") && has("fm") === has("fu");
  const status = onlyPairs && (nginx || traefik) ? 200 : 400;
  return [keys.map((k) => HEADERS[k][0]).join(" + ") || "no header", status, keys];
});

function forward(headers: Array<readonly [string, string | string[]]>) {
  let req = request(world.tollgate.app).get("/v1/forward-auth");
  for (const [name, value] of headers) req = req.set(name, value as string);
  return req;
}

describe("forward auth header pairs", () => {
  it("covers all 16 combinations of the four headers", () => {
    expect(SUBSETS).toHaveLength(16);
    expect(SUBSETS.filter(([, status]) => status === 200).map(([name]) => name)).toEqual([
      "X-Original-Method + X-Original-URI",
      "X-Forwarded-Method + X-Forwarded-Uri",
      "X-Original-Method + X-Original-URI + X-Forwarded-Method + X-Forwarded-Uri",
    ]);
  });

  it.each(SUBSETS)("%s → %i", async (_name, status, keys) => {
    const res = await forward(keys.map((k) => HEADERS[k]));
    expect(res.status, res.text).toBe(status);
    if (status === 400) {
      expect(res.body.error.code).toBe("invalid_request");
      // Refused before deciding: no decision was made.
      expect(res.headers["x-tollgate-decision-id"]).toBeUndefined();
    } else {
      expect(res.headers["x-tollgate-status"]).toBe("200");
    }
  });

  it("judges each pair's own method and URI", async () => {
    const write = { method: "POST", uri: "/api/v1/projects/pub/upload" };
    for (const pair of [["X-Original-Method", "X-Original-URI"], ["X-Forwarded-Method", "X-Forwarded-Uri"]] as const) {
      const res = await forward([[pair[0], write.method], [pair[1], write.uri]]);
      expect(res.status, pair[0]).toBe(401);
      expect(res.body.error.reasons, pair[0]).toEqual(["missing_token"]);
    }
  });

  it("refuses a lone method header of one pair beside the other pair (DELETE judged as GET)", async () => {
    // Traefik passes the client's X-Original-Method on: the method must not come from it.
    const res = await forward([
      ["X-Original-Method", "GET"],
      ["X-Forwarded-Method", "DELETE"],
      ["X-Forwarded-Uri", "/api/v1/projects/pub"],
    ]);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe("X-Original-Method without X-Original-URI: send both headers of a pair");
  });

  it.each([
    ["the method", { fm: "POST" }],
    ["the URI", { fu: "/api/v1/projects/priv/builds" }],
    ["the URI's query", { fu: `${READ.uri}?page=2` }],
    ["the method's letter case", { fm: "get" }],
  ])("refuses both pairs when they disagree on %s", async (_what, change: Partial<Record<Key, string>>) => {
    const res = await forward(KEYS.map((k) => [HEADERS[k][0], change[k] ?? HEADERS[k][1]] as const));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "invalid_request", message: expect.stringContaining("describe different requests") });
  });

  it.each(KEYS.map((k) => HEADERS[k][0]))("refuses %s sent twice, even with the same value", async (name) => {
    const pair = name.startsWith("X-Original") ? KEYS.slice(0, 2) : KEYS.slice(2);
    const headers = pair.map((k) => HEADERS[k]).map(([n, v]) => [n, n === name ? [v, v] : v] as const);
    const res = await forward(headers);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(`${name} is sent more than once`);
  });

  it("reads header names in any letter case", async () => {
    const res = await forward([
      ["x-original-method", "GET"],
      ["X-ORIGINAL-URI", READ.uri],
    ]);
    expect(res.status).toBe(200);
  });

  it("refuses an empty or malformed value in the pair it uses, naming the pair", async () => {
    const empty = await forward([["X-Forwarded-Method", ""], HEADERS.fu]);
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toBe("X-Forwarded-Method/X-Forwarded-Uri are malformed");
    const spaced = await forward([["X-Original-Method", "GET /x"], HEADERS.ou]);
    expect(spaced.status).toBe(400);
    expect(spaced.body.error.message).toBe("X-Original-Method/X-Original-URI are malformed");
  });
});
