// Red-team cases for the tools/list filter: an upstream (compromised, buggy, or simply another
// stack) shapes its answers so that Tollgate reads them one way and an MCP client another, and
// the client sees tools the policy hides. Every answer here must reach the client filtered, or
// be refused (502 upstream_answer_unreadable, or the stream cut off); never passed on raw.
import { createServer, type Server, type Socket } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { HeldAnswerBudget, answerReading, looseId, type ToolsListAnswers } from "../../src/mcp/tools-list.js";
import { callerOf } from "../../src/mcp/tools-list-filter.js";
import type { Verdict } from "../../src/decision/service.js";
import { bearer } from "../http/fixture.js";
import { listen, send, startGateway, type Gateway, type Sent } from "../gateway/helpers.js";

const MCP = "/api/v1/mcp/projects/priv/mcp";
/** What the upstream lists: two tools a read-only grant may call, two it may not see. */
const TOOLS = ["list_builds", "get_build", "trigger_build", "drop_tables"].map((name) => ({ name, description: `the ${name} tool` }));
const HIDDEN = /trigger_build|drop_tables/;
const list = (id: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ jsonrpc: "2.0", id, result: { tools: TOOLS }, ...extra });

/** An answer as raw header lines and body; Content-Length added unless `chunked` or given. */
interface RawAnswer {
  headers: Array<[string, string]>;
  body: string | Buffer;
}

let upstream: { server: Server; url: string; answer: (body: string) => RawAnswer; lastHead: string };
let gw: Gateway;
let readOnly: string;

/** A bare TCP upstream writing each answer byte for byte (repeated fields, odd types), one per connection. */
async function hostileUpstream(): Promise<typeof upstream> {
  const state = { answer: (_body: string): RawAnswer => ({ headers: [["content-type", "application/json"]], body: "{}" }), lastHead: "" };
  const server = createServer((socket: Socket) => {
    let data = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = data.subarray(0, end).toString("latin1");
      state.lastHead = head;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      const { headers, body } = state.answer(data.subarray(end + 4, end + 4 + length).toString("utf8"));
      const bytes = typeof body === "string" ? Buffer.from(body) : body;
      const lines = headers.map(([k, v]) => `${k}: ${v}\r\n`).join("");
      const framing = headers.some(([k]) => k.toLowerCase() === "content-length") ? "" : `content-length: ${bytes.length}\r\n`;
      socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\n${lines}${framing}connection: close\r\n\r\n`), bytes]));
    });
  });
  const url = await listen(server as unknown as import("node:http").Server);
  return {
    server,
    url,
    set answer(fn: (body: string) => RawAnswer) {
      state.answer = fn;
    },
    get answer() {
      return state.answer;
    },
    get lastHead() {
      return state.lastHead;
    },
  };
}

beforeAll(async () => {
  upstream = await hostileUpstream();
  // Many requests by one token: the rate limit is not what is tested here.
  gw = await startGateway({ TOLLGATE_UPSTREAM_URL: upstream.url, TOLLGATE_RATE_LIMITS: '{"mcp":{"default":100000}}' });
  readOnly = (await gw.world.tollgate.issuer.issue({ type: "mcp", user_id: "bob", grants: [{ project_id: "priv", allow_trigger: false }] })).token;
});

afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => (upstream ? upstream.server.close(resolve) : resolve(undefined)));
});

function post(message: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Sent> {
  return send(gw.url, MCP, {
    method: "POST",
    headers: { authorization: bearer(readOnly), "content-type": "application/json", accept: "application/json, text/event-stream", ...extra },
    body: JSON.stringify(message),
  });
}

const toolsList = (id: unknown) => ({ jsonrpc: "2.0", id, method: "tools/list" });
const json = (body: string | Buffer, type = "application/json"): RawAnswer => ({ headers: [["content-type", type]], body });
const sse = (body: string, type = "text/event-stream"): RawAnswer => ({ headers: [["content-type", type]], body });

/** The answer reached the client filtered (the visible tools only) or was refused; never with a hidden tool. */
function filteredOrRefused(res: Sent): "filtered" | "refused" {
  expect(res.body).not.toMatch(HIDDEN);
  if (res.status === 502) {
    expect(res.json().error.code).toBe("upstream_answer_unreadable");
    return "refused";
  }
  expect(res.status).toBe(200);
  expect(res.body).toContain("list_builds");
  return "filtered";
}

describe("a JSON tools/list answer", () => {
  it("is held whole and sent filtered with its own, correct Content-Length", async () => {
    upstream.answer = () => json(list(1));
    const res = await post(toolsList(1));
    expect(filteredOrRefused(res)).toBe("filtered");
    expect(res.headers["transfer-encoding"]).toBeUndefined();
    expect(Number(res.headers["content-length"])).toBe(Buffer.byteLength(res.body));
    expect(res.json().result.tools.map((t: { name: string }) => t.name)).toEqual(["list_builds", "get_build"]);
  });

  it("after a UTF-8 byte order mark (which fetch's json() drops) is filtered", async () => {
    upstream.answer = () => json(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(list(1))]));
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
  });

  it("in UTF-16 or UTF-32 without a charset (Python's json.loads detects them from the bytes) is refused", async () => {
    const utf16le = Buffer.from(list(1), "utf16le");
    const utf16be = Buffer.from(utf16le).swap16();
    for (const body of [utf16le, utf16be, Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le])]) {
      upstream.answer = () => json(body);
      const res = await post(toolsList(1));
      expect(filteredOrRefused(res)).toBe("refused");
      expect(Buffer.from(res.body, "utf8").toString("utf16le")).not.toMatch(HIDDEN);
    }
  });

  it("as a JSON-RPC batch (array, which the SDK reads message by message) is refused", async () => {
    upstream.answer = () => json(`[${list(1)}]`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("refused");
    upstream.answer = () => json(`[{"jsonrpc":"2.0","id":9,"result":{}},${list(1)}]`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("refused");
  });

  it("whose members another decoder reads differently (\"Tools\" beside \"tools\", \"Result\", NaN) is refused", async () => {
    for (const body of [
      `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"Tools":${JSON.stringify(TOOLS)}}}`,
      `{"jsonrpc":"2.0","id":1,"result":{"tool\\u0073":[]},"Result":{"tools":${JSON.stringify(TOOLS)}}}`,
      `{"jsonrpc":"2.0","id":1,"result":{"tools":${JSON.stringify(TOOLS)}},"x":NaN}`,
      `{"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":${JSON.stringify(TOOLS)}}}`,
      `{"jsonrpc":"2.0","id":1,"RESULT":{"TOOLS":${JSON.stringify(TOOLS)}}}`,
    ]) {
      upstream.answer = () => json(body);
      expect(filteredOrRefused(await post(toolsList(1))), body.slice(0, 60)).toBe("refused");
    }
  });

  it("to another request, carrying an earlier tools/list's id (which the client still waits for), is filtered", async () => {
    // The tools/list is answered with nothing; its answer comes later, inside a tools/call's.
    upstream.answer = () => ({ headers: [], body: "" });
    expect((await post(toolsList(41))).status).toBe(200);
    upstream.answer = () => json(list(41));
    const res = await post({ jsonrpc: "2.0", id: 42, method: "tools/call", params: { name: "list_builds", arguments: {} } });
    // Filtered by this request's decision, which lists no tools for a tools/call: none shown.
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 41, result: { tools: [] } });
  });
});

describe("what the client may ask of the answer", () => {
  it("a Range (a slice of the list the client could piece together) or a compression never reaches the upstream", async () => {
    upstream.answer = () => json(list(1));
    const res = await post(toolsList(1), { range: "bytes=40-", "if-range": '"x"', "accept-encoding": "gzip, br" });
    expect(filteredOrRefused(res)).toBe("filtered");
    const head = upstream.lastHead.toLowerCase();
    expect(head).not.toMatch(/\r\n(range|if-range):/);
    expect(head).toMatch(/\r\naccept-encoding: identity(\r\n|$)/);
  });

  it("a DELETE's answer (ending the session) is read too: a pending tools/list answer in it is filtered", async () => {
    upstream.answer = () => ({ headers: [], body: "" });
    expect((await post(toolsList(51))).status).toBe(200);
    upstream.answer = () => json(list(51));
    const res = await send(gw.url, MCP, { method: "DELETE", headers: { authorization: bearer(readOnly) } });
    expect(res.status).toBe(200);
    expect(res.body).not.toMatch(HIDDEN);
  });
});

describe("ids of another type or shape", () => {
  // The MCP TypeScript SDK finds a response's request by Number(id): "1" and "01" are its request 1.
  const cases: Array<[string, unknown, unknown]> = [
    ["request 1, answer \"1\"", 1, "1"],
    ["request 1, answer \"01\"", 1, "01"],
    ["request 1, answer \" 1 \"", 1, " 1 "],
    ["request \"1\", answer 1", "1", 1],
    ["request \"07\", answer 7", "07", 7],
  ];
  for (const [label, requestId, answerId] of cases) {
    it(`${label}: not taken for the tools/list answer, and not passed on raw either (refused)`, async () => {
      upstream.answer = () => json(list(answerId));
      expect(filteredOrRefused(await post(toolsList(requestId)))).toBe("refused");
    });
  }

  it("the same id in the same type is the answer, filtered (string ids too)", async () => {
    for (const id of ["1", "abc", 0, 7]) {
      upstream.answer = () => json(list(id));
      expect(filteredOrRefused(await post(toolsList(id))), String(id)).toBe("filtered");
    }
  });

  it("a list of tools under a null, fractional, boolean or missing id is refused", async () => {
    for (const id of [null, 1.5, true, { n: 1 }, 2 ** 53]) {
      upstream.answer = () => json(list(id));
      expect(filteredOrRefused(await post(toolsList(1))), JSON.stringify(id)).toBe("refused");
    }
    upstream.answer = () => json(JSON.stringify({ jsonrpc: "2.0", result: { tools: TOOLS } }));
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("refused");
  });

  it("a request id with a lone surrogate (it does not survive UTF-8) is refused before the policy: 400", async () => {
    for (const id of ["\ud800", "a\udc00b", "x\ud83d"]) {
      const res = await send(gw.url, MCP, {
        method: "POST",
        headers: { authorization: bearer(readOnly), "content-type": "application/json", accept: "application/json, text/event-stream" },
        // Escaped, so the body itself is valid UTF-8.
        body: `{"jsonrpc":"2.0","id":${JSON.stringify(id).replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)},"method":"tools/list"}`,
      });
      expect(res.status, JSON.stringify(id)).toBe(400);
      expect(res.json().error.data.reasons).toEqual(["invalid_jsonrpc"]);
    }
  });
});

describe("an SSE answer", () => {
  it("whose last event has no empty line before the stream ends is still filtered", async () => {
    upstream.answer = () => sse(`event: message\ndata: ${list(1)}`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
    upstream.answer = () => sse(`data: {"jsonrpc":"2.0","method":"notifications/progress"}\n\ndata: ${list(1)}\n`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
    upstream.answer = () => sse(`data: ${list(1)}\r`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
  });

  it("after a byte order mark (which the event-stream parser drops) is filtered", async () => {
    upstream.answer = () => sse(`\ufeffdata: ${list(1)}\n\n`);
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
  });

  it("carrying a batch, or an id of another type, is cut off", async () => {
    for (const data of [`[${list(1)}]`, list("1")]) {
      upstream.answer = () => sse(`data: ${data}\n\n`);
      const res = await post(toolsList(1)).catch(() => null);
      // The head went out with the stream: refusing it means cutting it off.
      if (res !== null) expect(res.body).not.toMatch(HIDDEN);
    }
  });
});

describe("look-alike content types and charsets", () => {
  const refused: Array<Array<[string, string]>> = [
    [["content-type", "application/jsonx"]],
    [["content-type", "application/json-seq"]],
    [["content-type", "text/json"]],
    [["content-type", "text/event-streamy"]],
    [["content-type", "text/event-stream-x; charset=utf-8"]],
    [["content-type", "application/json; charset=utf-16"]],
    [["content-type", "application/json; charset=utf-8; charset=utf-16"]],
    [["content-type", "text/event-stream; charset=iso-8859-1"]],
    [["content-type", "application/json, text/html"]],
    [["content-type", "text/plain"], ["content-type", "text/event-stream"]],
    [["content-type", "application/json"], ["content-type", "application/json"]],
  ];
  for (const headers of refused) {
    it(`${headers.map(([, v]) => v).join(" + ")}: 502 upstream_answer_unreadable, nothing passed on`, async () => {
      const body = headers.some(([, v]) => v.includes("event-stream")) ? `data: ${list(1)}\n\n` : list(1);
      upstream.answer = () => ({ headers, body });
      const res = await post(toolsList(1));
      expect(filteredOrRefused(res)).toBe("refused");
    });
  }

  it("the real types in any case, with a UTF-8 charset, are read and filtered", async () => {
    for (const type of ["APPLICATION/JSON", "application/json; charset=UTF-8", 'application/json;charset="utf-8"', "application/vnd.mcp+json"]) {
      upstream.answer = () => json(list(1), type);
      expect(filteredOrRefused(await post(toolsList(1))), type).toBe("filtered");
    }
    upstream.answer = () => sse(`data: ${list(1)}\n\n`, "Text/Event-Stream; charset=utf-8");
    expect(filteredOrRefused(await post(toolsList(1)))).toBe("filtered");
  });
});

describe("a query string on the MCP endpoint", () => {
  it("is refused (400) before anything is forwarded: the upstream gets exactly the path judged", async () => {
    let forwarded = 0;
    upstream.answer = () => {
      forwarded++;
      return json(list(1));
    };
    for (const query of ["?session=x", "?", "?project=pub", "?mode=sse"]) {
      const res = await send(gw.url, `${MCP}${query}`, {
        method: "POST",
        headers: { authorization: bearer(readOnly), "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify(toolsList(1)),
      });
      expect(res.status, query).toBe(400);
      expect(res.json().error.code).toBe("invalid_request");
      const get = await send(gw.url, `${MCP}${query}`, { headers: { authorization: bearer(readOnly), accept: "text/event-stream" } });
      expect(get.status, query).toBe(400);
    }
    expect(forwarded).toBe(0);
  });
});

describe("the memory answers held share", () => {
  const answers = (budget: HeldAnswerBudget, maxHeld = 1 << 20): ToolsListAnswers => ({
    visible: new Set(["list_builds"]),
    own: { id: 1, toolsList: true },
    lookup: async () => null,
    markPrivate: false,
    maxHeld,
    budget,
  });

  it("past the process's budget an answer is refused with 503 answer_memory_exhausted, and what it held is given back", async () => {
    const budget = new HeldAnswerBudget(1000);
    expect(budget.take(900)).toBe(true);
    const reading = answerReading({ contentTypes: ["application/json"], contentEncoding: undefined }, answers(budget));
    if (reading === null || reading instanceof RequestError || !("whole" in reading)) throw new Error("expected a whole reading");
    await expect(reading.whole(Readable.from([Buffer.from(list(1).slice(0, 60)), Buffer.from(list(1).slice(60))]))).rejects.toMatchObject({ code: "answer_memory_exhausted", status: 503 });
    expect(budget.held).toBe(900);
    budget.give(900);
    const ok = answerReading({ contentTypes: ["application/json"], contentEncoding: undefined }, answers(budget));
    if (ok === null || ok instanceof RequestError || !("whole" in ok)) throw new Error("expected a whole reading");
    expect(JSON.parse((await ok.whole(Readable.from([Buffer.from(list(1))]))).toString()).result.tools).toEqual([TOOLS[0]]);
    expect(budget.held).toBe(0);
  });

  it("an SSE stream holds its unfinished event against the budget, and gives it back when it ends or breaks", async () => {
    const budget = new HeldAnswerBudget(100);
    const reading = answerReading({ contentTypes: ["text/event-stream"], contentEncoding: undefined }, answers(budget));
    if (reading === null || reading instanceof RequestError || !("stream" in reading)) throw new Error("expected a stream");
    const failed = new Promise((resolve) => reading.stream.on("error", resolve));
    reading.stream.resume();
    reading.stream.write(Buffer.from(`data: ${"x".repeat(150)}`));
    expect(await failed).toMatchObject({ code: "answer_memory_exhausted" });
    expect(budget.held).toBe(0);
  });
});

describe("tools/list ids are the caller's on one project", () => {
  it("are recorded per caller and project (and session): another project's answers are not matched by them", () => {
    const verdict = { subject: { kind: "mcp_token", id: "t1", binding_id: "b1" } } as unknown as Verdict;
    const names = new Set([callerOf(verdict, "priv", null), callerOf(verdict, "pub", null), callerOf(verdict, "priv", "s1"), callerOf(verdict, "priv", null, true), callerOf(verdict, null, null)]);
    expect(names.size).toBe(5);
    // No project id can be written so that it spells another caller.
    expect(callerOf(verdict, 'priv",null', null)).not.toBe(callerOf(verdict, "priv", null));
  });

  it("reads ids as the SDK does for the loose match", () => {
    expect([looseId("1"), looseId("01"), looseId(" 1 "), looseId("1e0"), looseId(""), looseId("abc"), looseId(7)]).toEqual([1, 1, 1, 1, 0, null, 7]);
  });
});
