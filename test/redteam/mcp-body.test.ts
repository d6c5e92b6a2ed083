// Red-team cases for a project's MCP endpoint: the message the policy judged must be the message
// the upstream's JSON-RPC parser reads, whatever that parser is. Each case here is a body that
// Tollgate read one way and a common server stack reads another.
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../http/fixture.js";
import { rawRequest, send, startGateway, startUpstream, type Gateway, type Sent, type Upstream } from "../gateway/helpers.js";

const MCP = "/api/v1/mcp/projects/priv/mcp";
let upstream: Upstream;
let gw: Gateway;
/** bob's MCP token on priv without allow_trigger: tools/call trigger_build is 403 trigger_not_allowed. */
let readOnly: string;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url });
  readOnly = (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] })).token;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

function post(body: string | Buffer, extra: Record<string, string> = {}): Promise<Sent> {
  return send(gw.url, MCP, {
    method: "POST",
    headers: { authorization: bearer(readOnly), "content-type": "application/json", accept: "application/json, text/event-stream", ...extra },
    body,
  });
}

/** The POSTs the upstream received during `run`. */
async function forwarded(run: () => Promise<unknown>): Promise<string[]> {
  const before = upstream.hits.length;
  await run();
  return upstream.hits.slice(before).filter((h) => h.method === "POST").map((h) => h.body);
}

describe("member names that a case-insensitive decoder folds together", () => {
  // Go's encoding/json (so Go MCP servers that decode with it) and .NET's web defaults
  // (PropertyNameCaseInsensitive) match member names to fields ignoring case, Go also folding
  // "ſ" (U+017F) to "s" and "K" (U+212A) to "k"; a later member wins. The policy judged
  // list_builds (read); such a server ran trigger_build, which this token may not.
  const bodies: Array<[string, string]> = [
    ["params.Name after params.name", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","Name":"trigger_build","arguments":{}}}'],
    ["METHOD after method", '{"jsonrpc":"2.0","id":2,"method":"tools/list","METHOD":"tools/call","params":{"name":"trigger_build","arguments":{}}}'],
    ["paramſ (long s) after params", '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_builds"},"param\u017f":{"name":"trigger_build","arguments":{}}}'],
    ["escaped long s", '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_builds"},"param\\u017f":{"name":"trigger_build","arguments":{}}}'],
    ["taſkId beside taskId", '{"jsonrpc":"2.0","id":5,"method":"tasks/get","params":{"taskId":"t1","ta\u017fkId":"t2"}}'],
  ];
  for (const [label, body] of bodies) {
    it(`refuses ${label} before the policy (duplicate_member); nothing is forwarded`, async () => {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(body)));
      expect(res!.status).toBe(400);
      expect(res!.json()).toMatchObject({ error: { code: -32700, data: { reasons: ["duplicate_member"] } } });
      expect(sent).toEqual([]);
    });
  }

  // Without a lower-case "method" Tollgate read a response (judged as rpc.response, allowed to
  // anyone with the route); a case-insensitive decoder read a request to call trigger_build.
  it("refuses a JSON-RPC member spelt in another case (a response that is a request to such a decoder)", async () => {
    for (const body of [
      '{"jsonrpc":"2.0","id":6,"result":{},"Method":"tools/call","Params":{"name":"trigger_build","arguments":{}}}',
      '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"NAME":"trigger_build","arguments":{}}}',
      '{"JSONRPC":"2.0","jsonrpc":"2.0","id":8,"method":"tools/list"}',
    ]) {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(body)));
      expect(res!.status, body).toBe(400);
      expect(res!.json().error.data.reasons, body).toEqual([expect.stringMatching(/^(invalid_jsonrpc|duplicate_member)$/)]);
      expect(sent, body).toEqual([]);
    }
  });

  it("refuses two members that fold together at any depth, and forwards names in any case that fold to nothing else (pinned)", async () => {
    const twice = await post('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_build","arguments":{"buildId":"b1","BUILDID":"b2"}}}');
    expect(twice.json()).toMatchObject({ error: { data: { reasons: ["duplicate_member"] } } });
    const body = '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_build","arguments":{"BuildId":"b1","Name":"x"},"_meta":{"progressToken":1}}}';
    const sent = await forwarded(async () => expect((await post(body)).status).toBe(200));
    expect(sent).toEqual([body]);
  });
});

describe("bodies the upstream would decode into something else", () => {
  // The upstream is told how to read the bytes by Content-Encoding and the charset: a body
  // judged as plain UTF-8 JSON must not reach it labelled as anything else.
  const listBuilds = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{}}}';

  it("refuses a Content-Encoding (415), plain JSON labelled gzip or a real gzip stream alike; nothing is forwarded", async () => {
    for (const [encoding, body] of [
      ["gzip", listBuilds],
      ["gzip", gzipSync(listBuilds)],
      ["br", listBuilds],
      ["deflate", listBuilds],
      ["identity, gzip", listBuilds],
    ] as const) {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(body, { "content-encoding": encoding })));
      expect(res!.status, encoding).toBe(415);
      expect(res!.json(), encoding).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, data: { reasons: ["unsupported_media_type"] } } });
      expect(sent, encoding).toEqual([]);
    }
  });

  it("refuses a charset other than UTF-8 and a media type other than JSON (415); nothing is forwarded", async () => {
    for (const type of ["application/json; charset=utf-7", "application/json; charset=utf-16le", 'application/json;charset="iso-8859-1"', "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=utf-8; charset=utf-7"]) {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(listBuilds, { "content-type": type })));
      expect(res!.status, type).toBe(415);
      expect(res!.json().error.data.reasons, type).toEqual(["unsupported_media_type"]);
      expect(sent, type).toEqual([]);
    }
  });

  it("forwards application/json with or without a UTF-8 charset, and identity (pinned)", async () => {
    for (const extra of <Array<Record<string, string>>>[{ "content-type": "application/json" }, { "content-type": "Application/JSON; charset=UTF-8" }, { "content-type": 'application/json;charset="utf-8"', "content-encoding": "identity" }]) {
      const sent = await forwarded(async () => expect((await post(listBuilds, extra)).status, JSON.stringify(extra)).toBe(200));
      expect(sent).toEqual([listBuilds]);
    }
  });
});

describe("a body on the endpoint's methods that carry no message", () => {
  // GET and DELETE are judged by the route (read): a body on them was streamed to the MCP
  // server unjudged. A server that reads a JSON-RPC message from any method would run it.
  it("a GET or DELETE with a body is refused and never reaches the upstream; without one it is forwarded", async () => {
    const trigger = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"trigger_build","arguments":{}}}';
    for (const method of ["GET", "DELETE"]) {
      const before = upstream.hits.length;
      const withBody = await send(gw.url, MCP, { method, headers: { authorization: bearer(readOnly), "content-type": "application/json" }, body: trigger });
      expect(withBody.status, method).toBe(400);
      expect(withBody.json().error.code, method).toBe("invalid_request");
      const chunked = await rawRequest(gw.port, `${method} ${MCP} HTTP/1.1\r\nHost: x\r\nAuthorization: ${bearer(readOnly)}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${trigger.length.toString(16)}\r\n${trigger}\r\n0\r\n\r\n`, { expectResponses: 1 });
      expect(chunked.statuses, method).toEqual([400]);
      expect(upstream.hits.slice(before), method).toEqual([]);
      const plain = await send(gw.url, MCP, { method, headers: { authorization: bearer(readOnly) } });
      expect(plain.status, method).toBe(200);
      expect(upstream.hits.slice(before).map((h) => [h.method, h.body])).toEqual([[method, ""]]);
    }
  });
});

describe("nesting", () => {
  // V8 parses any depth, but many servers' parsers recurse (Python's json: RecursionError past
  // ~1000 levels; others overflow their stack): a message is refused past a depth no MCP message needs.
  it("refuses a message nested deeper than 64 levels (invalid_jsonrpc); 64 pass", async () => {
    const nested = (depth: number) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{"a":${"[".repeat(depth - 3)}${"]".repeat(depth - 3)}}}}`;
    let res: Sent | undefined;
    const sent = await forwarded(async () => (res = await post(nested(5000))));
    expect(res!.status).toBe(400);
    expect(res!.json().error.data.reasons).toEqual(["invalid_jsonrpc"]);
    expect(sent).toEqual([]);
    expect((await post(nested(65))).status).toBe(400);
    expect((await post(nested(64))).status).toBe(200);
  });
});

describe("__proto__ members", () => {
  // JSON.parse keeps "__proto__" as a plain member, so Tollgate read a response; a JavaScript
  // server that copies the message with Object.assign (or a deep merge) gets an object whose
  // prototype holds method and params, and reads a call to trigger_build.
  it("are refused at any depth, however escaped (invalid_jsonrpc); nothing is forwarded", async () => {
    const inner = '{"method":"tools/call","params":{"name":"trigger_build","arguments":{}}}';
    expect(Object.assign({}, JSON.parse(`{"__proto__":${inner}}`)).method).toBe("tools/call"); // the hazard
    for (const body of [
      `{"jsonrpc":"2.0","id":1,"result":{},"__proto__":${inner}}`,
      `{"jsonrpc":"2.0","id":2,"result":{},"__pr\\u006fto__":${inner}}`,
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_builds","arguments":{"__proto__":{"admin":true}}}}',
    ]) {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(body)));
      expect(res!.status, body).toBe(400);
      expect(res!.json().error.data.reasons, body).toEqual(["invalid_jsonrpc"]);
      expect(sent, body).toEqual([]);
    }
  });

  // cJSON and other C parsers cut a string at U+0000: "method\u0000x" is "method" to them,
  // a member Tollgate never read (it judged a response).
  it("a member name holding U+0000 is refused too", async () => {
    const body = '{"jsonrpc":"2.0","id":5,"result":{},"method\\u0000x":"tools/call","params\\u0000":{"name":"trigger_build","arguments":{}}}';
    let res: Sent | undefined;
    const sent = await forwarded(async () => (res = await post(body)));
    expect(res!.status).toBe(400);
    expect(res!.json().error.data.reasons).toEqual(["invalid_jsonrpc"]);
    expect(sent).toEqual([]);
  });

  it("pinned: a member that only mentions proto passes", async () => {
    const body = '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_builds","arguments":{"protocol":"__proto__"}}}';
    expect(await forwarded(async () => expect((await post(body)).status).toBe(200))).toEqual([body]);
  });
});

describe("a message that is a request and a response at once", () => {
  // JSON-RPC gives a request no result or error; a server whose decoder tries the response
  // shape first would take {"method":…,"result":…} for a response, another for the request.
  it("is refused (invalid_jsonrpc); nothing is forwarded", async () => {
    for (const body of ['{"jsonrpc":"2.0","id":1,"method":"tools/list","result":{}}', '{"jsonrpc":"2.0","id":2,"method":"tools/list","error":{"code":1,"message":"x"}}']) {
      let res: Sent | undefined;
      const sent = await forwarded(async () => (res = await post(body)));
      expect(res!.status, body).toBe(400);
      expect(res!.json().error.data.reasons, body).toEqual(["invalid_jsonrpc"]);
      expect(sent, body).toEqual([]);
    }
  });
});

describe("framing around one message (pinned)", () => {
  const message = (tool: string, id: number) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${tool}","arguments":{}}}`;
  const head = (extra: string) => `POST ${MCP} HTTP/1.1\r\nHost: x\r\nAuthorization: ${bearer(readOnly)}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${extra}`;

  it("bytes past Content-Length are the next request, judged on their own: the hidden trigger_build is denied", async () => {
    const first = message("list_builds", 1);
    const hidden = message("trigger_build", 2);
    const before = upstream.hits.length;
    const res = await rawRequest(gw.port, `${head(`Content-Length: ${first.length}\r\n\r\n`)}${first}${head(`Content-Length: ${hidden.length}\r\nConnection: close\r\n\r\n`)}${hidden}`, { expectResponses: 2 });
    expect(res.statuses).toEqual([200, 403]);
    expect(res.text).toContain("trigger_not_allowed");
    expect(upstream.hits.slice(before).map((h) => h.body)).toEqual([first]);
  });

  it("a chunked message's trailers (Mcp-Name, X-Tollgate-*) never reach the upstream", async () => {
    const body = message("list_builds", 3);
    const before = upstream.hits.length;
    const res = await rawRequest(gw.port, `${head("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")}${body.length.toString(16)}\r\n${body}\r\n0\r\nMcp-Name: trigger_build\r\nX-Tollgate-Permissions: read,trigger\r\n\r\n`, { expectResponses: 1 });
    expect(res.statuses).toEqual([200]);
    const [hit] = upstream.hits.slice(before);
    expect(hit!.body).toBe(body);
    expect(hit!.rawTrailers).toEqual([]);
    expect(hit!.headers["x-tollgate-permissions"]).toBe("read");
  });
});

describe("Mcp-Method and Mcp-Name on MCP 2026-07-28 (pinned)", () => {
  const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{}}}';
  const v = "MCP-Protocol-Version: 2026-07-28\r\n";
  const ask = (fields: string) =>
    rawRequest(gw.port, `POST ${MCP} HTTP/1.1\r\nHost: x\r\nAuthorization: ${bearer(readOnly)}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${fields}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, { expectResponses: 1 });

  it("a repeated or differently cased header is a mismatch; whitespace around a value is not part of it", async () => {
    for (const fields of [
      `${v}Mcp-Method: tools/call\r\nMcp-Method: tools/call\r\nMcp-Name: list_builds\r\n`,
      `${v}Mcp-Method: tools/call\r\nMcp-Name: list_builds\r\nMcp-Name: trigger_build\r\n`,
      `${v}Mcp-Method: Tools/Call\r\nMcp-Name: list_builds\r\n`,
      `${v}Mcp-Method: tools/call\r\nMcp-Name: List_Builds\r\n`,
      `Mcp-Method: tools/call\r\nMcp-Name: trigger_build\r\n`,
    ]) {
      const before = upstream.hits.length;
      const res = await ask(fields);
      expect(res.statuses, fields).toEqual([400]);
      expect(res.text, fields).toContain("mcp_header_mismatch");
      expect(upstream.hits.slice(before), fields).toEqual([]);
    }
    expect((await ask(`${v}Mcp-Method:   tools/call  \r\nmcp-name:\tlist_builds\t\r\n`)).statuses).toEqual([200]);
  });
});
