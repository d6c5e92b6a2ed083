// The MCP endpoint's message reader: what is one JSON-RPC message the policy may judge, and the
// header checks of MCP 2026-07-28. Pure functions, no server.
import { describe, expect, it } from "vitest";
import { BATCH_REFUSAL_BODY, callFromHeaders, firstDuplicateMember, headerMismatch, parseMcpMessage, type McpMessage } from "../../src/mcp/jsonrpc.js";

const parse = (body: string | Buffer) => parseMcpMessage(typeof body === "string" ? Buffer.from(body) : body);
const message = (body: unknown): McpMessage => {
  const parsed = parse(JSON.stringify(body));
  if ("reason" in parsed) throw new Error(`refused: ${parsed.reason}`);
  return parsed;
};

describe("parseMcpMessage", () => {
  it("reads a tools/call request: method, tool, id and (for the audit record) its arguments", () => {
    expect(message({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "get_build", arguments: { build_id: "b1" } } })).toEqual({
      kind: "request",
      id: 7,
      call: { method: "tools/call", tool: "get_build" },
      name: "get_build",
      arguments: { build_id: "b1" },
    });
    expect(message({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "list_builds" } })).not.toHaveProperty("arguments");
  });

  it("reads resources/read with its URI, prompts/get with its name (not a tool), a notification and a response", () => {
    expect(message({ jsonrpc: "2.0", id: "r", method: "resources/read", params: { uri: "demo://projects/p/builds/b" } })).toMatchObject({
      call: { method: "resources/read", uri: "demo://projects/p/builds/b" },
      name: "demo://projects/p/builds/b",
    });
    expect(message({ jsonrpc: "2.0", id: 1, method: "prompts/get", params: { name: "summary" } })).toMatchObject({ call: { method: "prompts/get" }, name: "summary" });
    expect(message({ jsonrpc: "2.0", method: "notifications/initialized" })).toMatchObject({ kind: "notification", id: null, call: { method: "notifications/initialized" } });
    expect(message({ jsonrpc: "2.0", id: 3, result: {} })).toEqual({ kind: "response", id: 3, call: { method: "rpc.response" }, name: null });
  });

  it("refuses a batch with exactly the documented body", () => {
    const refused = parse('[{"jsonrpc":"2.0","id":1,"method":"ping"}]');
    expect(refused).toMatchObject({ code: -32600, reason: "batch_not_supported" });
    expect(JSON.parse(BATCH_REFUSAL_BODY)).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "batches are not supported" } });
  });

  it("refuses malformed JSON (-32700), bodies that are not UTF-8 or start with a byte order mark, and duplicate member names at any depth", () => {
    for (const body of ["", "{", '{"jsonrpc":"2.0",}', "nul"]) expect(parse(body), body).toMatchObject({ code: -32700, reason: "malformed_json" });
    expect(parse(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toMatchObject({ code: -32700, reason: "invalid_encoding" });
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}')]);
    expect(parse(bom)).toMatchObject({ code: -32700, reason: "invalid_encoding" });
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}')).toMatchObject({ reason: "duplicate_member" });
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","name":"trigger_build"}}')).toMatchObject({ reason: "duplicate_member" });
    expect(parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"a":1,"\\u0061":2}}}')).toMatchObject({ reason: "duplicate_member" });
  });

  it("refuses what is not one JSON-RPC 2.0 message (-32600), keeping the id it could read", () => {
    for (const body of [
      "7",
      '"ping"',
      "null",
      '{"id":1,"method":"ping"}',
      '{"jsonrpc":"1.0","id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1,"method":""}',
      '{"jsonrpc":"2.0","id":1,"method":7}',
      '{"jsonrpc":"2.0","id":{},"method":"ping"}',
      '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"rpc.response"}',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0","result":{}}',
      '{"jsonrpc":"2.0","id":1,"result":{},"error":{}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\ud800"}}',
      `{"jsonrpc":"2.0","id":1,"method":"${"m".repeat(257)}"}`,
    ]) {
      expect(parse(body), body).toMatchObject({ code: -32600, reason: "invalid_jsonrpc" });
    }
    expect(parse('{"jsonrpc":"2.0","id":"x","method":7}')).toMatchObject({ id: "x" });
  });

  it("leaves a tools/call without a string name to the policy (no tool: unknown_tool there)", () => {
    expect(message({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 7 } }).call).toEqual({ method: "tools/call" });
  });
});

describe("firstDuplicateMember", () => {
  it("tells keys from string values, escaped quotes and arrays", () => {
    expect(firstDuplicateMember('{"a":"b","b":"a"}')).toBeNull();
    expect(firstDuplicateMember('{"a":["a","a"],"c":{"a":1}}')).toBeNull();
    expect(firstDuplicateMember('{"a\\"":1,"b":{"x":"\\":"}, "a\\"" : 2}')).toBe('a"');
    expect(firstDuplicateMember('[{"a":1},{"a":2}]')).toBeNull();
    expect(firstDuplicateMember('[{"a":1,"a":2}]')).toBe("a");
  });
});

describe("headerMismatch (MCP 2026-07-28)", () => {
  const call = message({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_builds" } });
  const list = message({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const v = "2026-07-28";

  it("requires Mcp-Method and Mcp-Name equal to the body on a 2026-07-28 request", () => {
    expect(headerMismatch(call, { protocolVersion: v, method: "tools/call", name: "list_builds" })).toBeNull();
    expect(headerMismatch(list, { protocolVersion: v, method: "tools/list", name: undefined })).toBeNull();
    for (const headers of [
      { protocolVersion: v, method: undefined, name: "list_builds" },
      { protocolVersion: v, method: "tools/call", name: undefined },
      { protocolVersion: v, method: "tools/call", name: "trigger_build" },
      { protocolVersion: v, method: "tools/list", name: "list_builds" },
      { protocolVersion: v, method: "Tools/call", name: "list_builds" },
    ]) {
      expect(headerMismatch(call, headers), JSON.stringify(headers)).toMatchObject({ code: -32001, reason: "mcp_header_mismatch", id: 1 });
    }
    expect(headerMismatch(list, { protocolVersion: v, method: "tools/list", name: "x" })).toMatchObject({ code: -32001 });
  });

  it("holds earlier revisions to the headers only when they are sent", () => {
    expect(headerMismatch(call, { protocolVersion: "2025-11-25", method: undefined, name: undefined })).toBeNull();
    expect(headerMismatch(call, { protocolVersion: undefined, method: "tools/call", name: "list_builds" })).toBeNull();
    expect(headerMismatch(call, { protocolVersion: "2025-06-18", method: "tools/list", name: undefined })).toMatchObject({ code: -32001 });
  });

  it("reads Mcp-Name in its base64 form, mirrors tasks' taskId, and lets a notification omit both headers", () => {
    const unicode = message({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "bauen_ü" } });
    const encoded = `=?base64?${Buffer.from("bauen_ü").toString("base64")}?=`;
    expect(headerMismatch(unicode, { protocolVersion: v, method: "tools/call", name: encoded })).toBeNull();
    expect(headerMismatch(call, { protocolVersion: v, method: "tools/call", name: `=?base64?${Buffer.from("trigger_build").toString("base64")}?=` })).toMatchObject({ code: -32001 });
    expect(headerMismatch(call, { protocolVersion: v, method: "tools/call", name: "=?base64?!!!?=" })).toMatchObject({ code: -32001 });
    const task = message({ jsonrpc: "2.0", id: 3, method: "tasks/get", params: { taskId: "t-1" } });
    expect(headerMismatch(task, { protocolVersion: v, method: "tasks/get", name: "t-1" })).toBeNull();
    expect(headerMismatch(task, { protocolVersion: v, method: "tasks/get", name: undefined })).toMatchObject({ code: -32001 });
    const note = message({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } });
    expect(headerMismatch(note, { protocolVersion: v, method: undefined, name: undefined })).toBeNull();
    expect(headerMismatch(note, { protocolVersion: v, method: "notifications/progress", name: undefined })).toMatchObject({ code: -32001 });
  });

  it("refuses Mcp-Method on a response", () => {
    const response = message({ jsonrpc: "2.0", id: 1, result: {} });
    expect(headerMismatch(response, { protocolVersion: v, method: undefined, name: undefined })).toBeNull();
    expect(headerMismatch(response, { protocolVersion: v, method: "tools/call", name: undefined })).toMatchObject({ code: -32001 });
  });
});

describe("callFromHeaders (forward auth, ext-authz)", () => {
  it("names the tool under tools/call and the URI under resources/read; nothing without Mcp-Method", () => {
    expect(callFromHeaders("tools/call", "trigger_build")).toEqual({ method: "tools/call", tool: "trigger_build" });
    expect(callFromHeaders("resources/read", "demo://x")).toEqual({ method: "resources/read", uri: "demo://x" });
    expect(callFromHeaders("prompts/get", "p")).toEqual({ method: "prompts/get" });
    expect(callFromHeaders(undefined, "trigger_build")).toBeUndefined();
    expect(callFromHeaders("tools/call", `=?base64?${Buffer.from("trigger_build").toString("base64")}?=`)).toEqual({ method: "tools/call", tool: "trigger_build" });
    expect(callFromHeaders("tools/call", "=?base64?***?=")).toEqual({ method: "tools/call", tool: "" });
  });
});
