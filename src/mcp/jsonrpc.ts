// One JSON-RPC message to a project's MCP endpoint, read strictly so that what the policy judges
// is what the upstream will act on: UTF-8 only, no byte order mark, no duplicate member names
// (parsers disagree on which one wins), one message per request (no batch). Framework-free.
import { isWellFormed } from "../domain.js";
import { ERRORS } from "../errors.js";
import type { McpCall } from "../policy/types.js";

export type JsonRpcId = string | number | null;

/** A message the gateway may put to the policy. */
export interface McpMessage {
  kind: "request" | "notification" | "response";
  /** The request's id (null for a notification). */
  id: JsonRpcId;
  /** What the policy judges (input.mcp). */
  call: McpCall;
  /** params.name (tools/call, prompts/get) or params.uri (resources/read): what Mcp-Name must equal. */
  name: string | null;
  /** params.arguments as parsed (tools/call, prompts/get), for the audit record; undefined when absent. */
  arguments?: unknown;
}

/** A message refused before the policy is asked: the JSON-RPC error code, Tollgate's error code (src/errors.ts, which fixes the HTTP status) and the request's id. */
export interface McpRefusal {
  code: number;
  reason: McpRefusalReason;
  message: string;
  id: JsonRpcId;
  /** The message refused for its headers (mcp_header_mismatch), for the audit record; absent when none was read. */
  refused?: McpMessage;
}

export type McpRefusalReason =
  | "body_too_large"
  | "malformed_json"
  | "invalid_encoding"
  | "duplicate_member"
  | "invalid_jsonrpc"
  | "batch_not_supported"
  | "mcp_header_mismatch";

/** JSON-RPC 2.0 error codes, and MCP's for a header that disagrees with the body. */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const HEADER_MISMATCH = -32001;

/** The exact answer to a batch (JSON array). */
export const BATCH_REFUSAL_BODY = '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batches are not supported"}}';

/** The MCP revision whose requests carry Mcp-Method and Mcp-Name, which must equal the body. */
export const STATELESS_REVISION = "2026-07-28";

/** Longest method and tool name, and URI, accepted (characters). */
const MAX_NAME = 256;
const MAX_URI = 4096;

const METHODS_NAMED_BY_NAME = new Set(["tools/call", "prompts/get"]);
const METHODS_NAMED_BY_URI = new Set(["resources/read"]);
/** What Mcp-Name mirrors beyond name and URI (MCP 2026-07-28): the task of tasks/get, tasks/update, tasks/cancel. */
const METHODS_NAMED_BY_TASK = new Set(["tasks/get", "tasks/update", "tasks/cancel"]);

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function refusal(code: number, reason: McpRefusalReason, message: string = ERRORS[reason].message, id: JsonRpcId = null): McpRefusal {
  return { code, reason, message, id };
}

export function tooLarge(maxBytes: number): McpRefusal {
  return refusal(INVALID_REQUEST, "body_too_large", `the request body exceeds ${maxBytes} bytes`);
}

/** Parses one message; anything else is a refusal (never an exception). */
export function parseMcpMessage(body: Buffer): McpMessage | McpRefusal {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return refusal(PARSE_ERROR, "invalid_encoding");
  }
  // ignoreBOM keeps a byte order mark in the text, where JSON.parse refuses it.
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refusal(PARSE_ERROR, "malformed_json", "the body is not valid JSON");
  }
  if (Array.isArray(value)) return refusal(INVALID_REQUEST, "batch_not_supported");
  const duplicate = firstDuplicateMember(text);
  if (duplicate !== null) return refusal(PARSE_ERROR, "duplicate_member", `the member name ${JSON.stringify(duplicate.slice(0, 64))} appears twice in one object`);
  return message(value);
}

function isId(value: unknown): value is string | number {
  return (typeof value === "string" && value.length <= MAX_URI) || (typeof value === "number" && Number.isSafeInteger(value));
}

function message(value: unknown): McpMessage | McpRefusal {
  const invalid = (why: string, id: JsonRpcId = null) => refusal(INVALID_REQUEST, "invalid_jsonrpc", `not a JSON-RPC 2.0 message: ${why}`, id);
  if (typeof value !== "object" || value === null) return invalid("the body must be an object");
  const m = value as Record<string, unknown>;
  const id: JsonRpcId = isId(m.id) ? m.id : null;
  if (m.jsonrpc !== "2.0") return invalid('"jsonrpc" must be "2.0"', id);
  if ("id" in m && !isId(m.id)) return invalid('"id" must be a string or an integer');
  if (!("method" in m)) {
    // A response to a request of the server (sampling, elicitation, roots).
    if (id === null || ("result" in m) === ("error" in m)) return invalid('a message without "method" is a response: an "id" and one of "result" or "error"');
    return { kind: "response", id, call: { method: "rpc.response" }, name: null };
  }
  const method = m.method;
  if (typeof method !== "string" || method === "" || method.length > MAX_NAME || !isWellFormed(method)) return invalid('"method" must be a non-empty string', id);
  if (method.startsWith("rpc.")) return invalid('method names beginning with "rpc." are reserved', id);
  if ("params" in m && (typeof m.params !== "object" || m.params === null)) return invalid('"params" must be an object or an array', id);
  const params = (m.params ?? {}) as Record<string, unknown>;
  const call: McpCall = { method };
  let name: string | null = null;
  if (METHODS_NAMED_BY_NAME.has(method) && typeof params.name === "string") {
    if (params.name.length > MAX_NAME || !isWellFormed(params.name)) return invalid('"params.name" is too long or not well-formed', id);
    name = params.name;
    if (method === "tools/call") call.tool = params.name;
  }
  if (METHODS_NAMED_BY_TASK.has(method) && typeof params.taskId === "string") {
    if (params.taskId.length > MAX_URI || !isWellFormed(params.taskId)) return invalid('"params.taskId" is too long or not well-formed', id);
    name = params.taskId;
  }
  if (METHODS_NAMED_BY_URI.has(method) && typeof params.uri === "string") {
    if (params.uri.length > MAX_URI || !isWellFormed(params.uri)) return invalid('"params.uri" is too long or not well-formed', id);
    name = params.uri;
    call.uri = params.uri;
  }
  const read: McpMessage = { kind: "id" in m ? "request" : "notification", id, call, name };
  if (params.arguments !== undefined) read.arguments = params.arguments;
  return read;
}

/** The MCP headers of a request, as received (undefined when absent). */
export interface McpHeaders {
  protocolVersion: string | undefined;
  method: string | undefined;
  name: string | undefined;
}

/**
 * Mcp-Method and Mcp-Name against the body: required on a 2026-07-28 request (Mcp-Name for
 * tools/call, prompts/get, resources/read and the tasks methods; a notification may omit
 * both), and wherever present they must equal it. Mcp-Name may carry its value as
 * `=?base64?<UTF-8 in base64>?=` (the spec's form for values that are not plain ASCII).
 */
export function headerMismatch(msg: McpMessage, headers: McpHeaders): McpRefusal | null {
  const required = headers.protocolVersion === STATELESS_REVISION && msg.kind === "request";
  const mismatch = (what: string) => refusal(HEADER_MISMATCH, "mcp_header_mismatch", what, msg.id);
  if (msg.kind === "response") return headers.method === undefined && headers.name === undefined ? null : mismatch("a response carries no Mcp-Method or Mcp-Name");
  if (headers.method === undefined ? required : headers.method !== msg.call.method) return mismatch("Mcp-Method must equal the body's method");
  const name = headers.name === undefined ? undefined : decodeHeaderValue(headers.name);
  if (name === undefined ? required && msg.name !== null : name !== msg.name) return mismatch("Mcp-Name must equal the body's params.name, params.uri or params.taskId");
  return null;
}

const BASE64_PREFIX = "=?base64?";
const BASE64_SUFFIX = "?=";
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A header value as sent, or decoded from `=?base64?…?=`; null when that form does not decode to UTF-8. */
function decodeHeaderValue(value: string): string | null {
  if (!value.startsWith(BASE64_PREFIX) || !value.endsWith(BASE64_SUFFIX) || value.length < BASE64_PREFIX.length + BASE64_SUFFIX.length) return value;
  const encoded = value.slice(BASE64_PREFIX.length, value.length - BASE64_SUFFIX.length);
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return null;
  try {
    return utf8.decode(Buffer.from(encoded, "base64"));
  } catch {
    return null;
  }
}

/**
 * What a proxy that never sees the body (forward auth, ext-authz) may tell the policy: the
 * message named by Mcp-Method and Mcp-Name; undefined without Mcp-Method.
 */
export function callFromHeaders(method: string | undefined, rawName: string | undefined): McpCall | undefined {
  if (method === undefined) return undefined;
  const call: McpCall = { method };
  // A base64 form that does not decode names nothing the table could hold.
  const name = rawName === undefined ? undefined : (decodeHeaderValue(rawName) ?? "");
  if (name !== undefined && method === "tools/call") call.tool = name;
  if (name !== undefined && METHODS_NAMED_BY_URI.has(method)) call.uri = name;
  return call;
}

/**
 * The first member name that appears twice in one object of a valid JSON text, or null. Runs
 * only on text JSON.parse accepted, so it need only tell strings, and keys, from the rest.
 */
export function firstDuplicateMember(text: string): string | null {
  // One entry per open container: the names seen so far (objects) or null (arrays).
  const stack: Array<Set<string> | null> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      const names = stack[stack.length - 1];
      if (names) {
        let j = i;
        while (j < n && (text[j] === " " || text[j] === "\t" || text[j] === "\n" || text[j] === "\r")) j++;
        if (text[j] === ":") {
          const name = JSON.parse(text.slice(start, i)) as string;
          if (names.has(name)) return name;
          names.add(name);
        }
      }
      continue;
    }
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    i++;
  }
  return null;
}
