// tools/list answers filtered for the caller: JSON and SSE, events cut anywhere across chunks,
// responses matched by id (the request's own, or the caller's recorded ids), 2026-07-28's
// cacheScope, and the refusals that keep it fail-closed (content codings, oversize, lookups that fail).
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { answerReading, HeldAnswerBudget, type AnswerReading, type IdMatch, type ToolsListAnswers } from "../../src/mcp/tools-list.js";
import { SseEventSplitter, eventData, withData } from "../../src/mcp/sse.js";

const TOOLS = [{ name: "list_builds", description: "List" }, { name: "get_build" }, { name: "trigger_build", inputSchema: { type: "object" } }];
const listAnswer = (id: number | string, tools: unknown[] = TOOLS) => JSON.stringify({ jsonrpc: "2.0", id, result: { tools } });
const READ_ONLY = new Set(["get_build", "list_builds"]);

function answers(overrides: Partial<ToolsListAnswers> = {}): ToolsListAnswers & { looked: unknown[] } {
  const looked: unknown[] = [];
  return {
    visible: READ_ONLY,
    own: { id: 1, toolsList: true },
    lookup: async (id): Promise<IdMatch> => {
      looked.push(id);
      return null;
    },
    markPrivate: false,
    maxHeld: 1 << 20,
    budget: new HeldAnswerBudget(1 << 28),
    looked,
    ...overrides,
  };
}

const head = (type: string, encoding?: string) => ({ contentTypes: [type], contentEncoding: encoding });

/** The reading chosen for a head that must be read (neither null nor a refusal). */
function reader(type: string, a: ToolsListAnswers, encoding?: string): Exclude<AnswerReading, null | RequestError> {
  const r = answerReading(head(type, encoding), a);
  expect(r).not.toBeNull();
  expect(r).not.toBeInstanceOf(RequestError);
  return r as Exclude<AnswerReading, null | RequestError>;
}

/** Feeds the chunks one by one through the reading and collects everything it gives. */
async function run(r: Exclude<AnswerReading, null | RequestError>, chunks: Array<string | Buffer>): Promise<string> {
  const buffers = chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c));
  if ("whole" in r) return (await r.whole(Readable.from(buffers))).toString("utf8");
  const t = r.stream;
  const out: Buffer[] = [];
  t.on("data", (d: Buffer) => out.push(d));
  const ended = new Promise<void>((resolve, reject) => {
    t.on("end", resolve);
    t.on("error", reject);
  });
  for (const b of buffers) t.write(b);
  t.end();
  await ended;
  return Buffer.concat(out).toString("utf8");
}

/** A refusal's code, or "passed" / "read". */
function refusalOf(r: AnswerReading): string {
  return r instanceof RequestError ? r.code : r === null ? "passed" : "read";
}

const toolNames = (json: string): string[] => (JSON.parse(json) as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name);

describe("a JSON answer", () => {
  it("to a tools/list keeps only the visible tools (and the rest of each tool as it was)", async () => {
    const out = await run(reader("application/json", answers()), [listAnswer(1).slice(0, 10), listAnswer(1).slice(10)]);
    expect(toolNames(out)).toEqual(["list_builds", "get_build"]);
    expect(JSON.parse(out).result.tools[0]).toEqual({ name: "list_builds", description: "List" });
    expect(JSON.parse(out).result.cacheScope).toBeUndefined();
  });

  it("is marked cacheScope private on 2026-07-28", async () => {
    const out = await run(reader("application/json; charset=utf-8", answers({ markPrivate: true })), [listAnswer(1)]);
    expect(JSON.parse(out).result).toMatchObject({ cacheScope: "private", tools: [{ name: "list_builds" }, { name: "get_build" }] });
  });

  it("to another request is read too (it may carry another id's answer), and passes unchanged when it lists nothing of the caller's", async () => {
    const a = answers({ own: { id: 1, toolsList: false } });
    expect(await run(reader("application/json", a), [listAnswer(1)])).toBe(listAnswer(1));
    expect(answerReading(head("text/plain"), answers())).toBeNull();
  });

  it("drops tools without a string name, and spells of the key with escapes are still read", async () => {
    const escaped = '{"jsonrpc":"2.0","id":1,"result":{"t\\u006fols":[{"name":"trigger_build"},{"name":"get_build"},{"nom":"x"},7]}}';
    expect(toolNames(await run(reader("application/json", answers()), [escaped]))).toEqual(["get_build"]);
  });

  it("with a content coding is refused, never passed on", () => {
    for (const encoding of ["gzip", "br", "deflate", "identity, gzip"]) expect(refusalOf(answerReading(head("application/json", encoding), answers()))).toBe("upstream_answer_unreadable");
    expect(refusalOf(answerReading(head("application/json", "identity"), answers()))).toBe("read");
  });

  it("over the size held is cut off with an error", async () => {
    await expect(run(reader("application/json", answers({ maxHeld: 64 })), [listAnswer(1)])).rejects.toMatchObject({ code: "upstream_answer_too_large" });
  });

  it("whose id is not the request's is looked up, and passes unchanged when it is no tools/list", async () => {
    const a = answers();
    const out = await run(reader("application/json", a), [listAnswer(9)]);
    expect(toolNames(out)).toHaveLength(3);
    expect(a.looked).toEqual([9]);
  });
});

describe("an SSE stream", () => {
  const events = [
    'event: message\nid: e1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n',
    `id: e2\ndata: ${listAnswer(1)}\n\n`,
    ": keep-alive\n\n",
    `id: e3\r\ndata: ${listAnswer(2)}\r\n\r\n`,
  ];
  const whole = events.join("");

  it("rewrites the tools/list answer by id and passes every other event byte for byte", async () => {
    const a = answers();
    const out = await run(reader("text/event-stream", a), [whole]);
    const got = new SseEventSplitter().push(out);
    expect(got).toHaveLength(4);
    expect(got[0]).toBe(events[0]);
    expect(got[1]).toBe(withData(events[1]!, JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [TOOLS[0], TOOLS[1]] } })));
    expect(got[1]).toContain("id: e2\n");
    expect(got[2]).toBe(events[2]);
    // id 2 is not this request's: asked of the store, which says it is no tools/list of this caller.
    expect(got[3]).toBe(events[3]);
    expect(a.looked).toEqual([2]);
  });

  it("gives the same output however the stream is cut into chunks (multi-byte characters too)", async () => {
    const withUnicode = `${whole}data: ${JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [{ name: "get_build", description: "Ünïcødé ✓ 🚀" }, { name: "trigger_build" }] } })}\n\n`;
    const bytes = Buffer.from(withUnicode);
    const expected = await run(reader("text/event-stream", answers()), [bytes]);
    expect(toolNames(eventData(new SseEventSplitter().push(expected)[4]!)!)).toEqual(["get_build"]);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), async (cuts) => {
        const at = [0, ...cuts.sort((x, y) => x - y), bytes.length];
        const chunks = at.slice(1).map((end, i) => bytes.subarray(at[i]!, end));
        expect(await run(reader("text/event-stream", answers()), chunks)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("filters an answer whose id the caller recorded (a resumed stream), marked private on 2026-07-28", async () => {
    const a = answers({ own: null, lookup: async (id) => (id === 2 ? "exact" : null), markPrivate: true });
    const out = new SseEventSplitter().push(await run(reader("text/event-stream", a), [whole]));
    expect(JSON.parse(eventData(out[1]!)!).result.tools).toHaveLength(3);
    expect(JSON.parse(eventData(out[3]!)!).result).toEqual({ tools: [TOOLS[0], TOOLS[1]], cacheScope: "private" });
  });

  it("passes each event on as soon as it is whole, before the next arrives", async () => {
    const t = (reader("text/event-stream", answers()) as { stream: import("node:stream").Transform }).stream;
    const seen: string[] = [];
    t.on("data", (d: Buffer) => seen.push(d.toString()));
    t.write(Buffer.from(events[1]!.slice(0, 30)));
    t.write(Buffer.from(events[1]!.slice(30)));
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(1);
    expect(toolNames(eventData(seen[0]!)!)).toEqual(["list_builds", "get_build"]);
    t.end();
  });

  it("ends with an error when the lookup cannot say (fail closed) or an event grows past the size held", async () => {
    await expect(run(reader("text/event-stream", answers({ own: null, lookup: () => Promise.reject(new Error("redis down")) })), [whole])).rejects.toThrow("redis down");
    await expect(run(reader("text/event-stream", answers({ maxHeld: 100 })), [`data: ${"x".repeat(200)}`])).rejects.toMatchObject({ code: "upstream_answer_too_large" });
    expect(refusalOf(answerReading(head("text/event-stream", "gzip"), answers({ own: null })))).toBe("upstream_answer_unreadable");
  });

  it("reads a message spread over several data lines", async () => {
    const spread = `data: {"jsonrpc":"2.0","id":1,\ndata: "result":{"tools":${JSON.stringify(TOOLS)}}}\n\n`;
    const out = new SseEventSplitter().push(await run(reader("text/event-stream", answers()), [spread]));
    expect(toolNames(eventData(out[0]!)!)).toEqual(["list_builds", "get_build"]);
  });
});
