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
  | "mcp_header_mismatch"
  | "unsupported_media_type";

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
/**
 * Deepest nesting of objects and arrays accepted. V8 parses any depth, but many servers' JSON
 * parsers recurse (Python's stops near 1000 levels, others overflow their stack); no MCP
 * message needs more.
 */
const MAX_DEPTH = 64;

/**
 * A member name as a case-insensitive decoder matches it to a field: Go's encoding/json (Unicode
 * simple folding, so "ſ" is "s" and the Kelvin sign "k") and .NET's web defaults ignore case, and
 * the last of two such members wins. NFKC then lower case folds at least what they fold.
 */
const foldName = (name: string): string => name.normalize("NFKC").toLowerCase();

/** The members whose values the policy is told (the envelope's, and params' name, uri and taskId), by folded name. */
const ENVELOPE_MEMBERS = new Map(["jsonrpc", "id", "method", "params", "result", "error"].map((n) => [foldName(n), n]));
const PARAMS_MEMBERS = new Map(["name", "uri", "taskId"].map((n) => [foldName(n), n]));

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

/** A message sent as anything but UTF-8 JSON without a Content-Encoding. */
export function notPlainJson(): McpRefusal {
  return refusal(INVALID_REQUEST, "unsupported_media_type", "send the message as Content-Type: application/json (UTF-8), without Content-Encoding");
}

/** Parses one message; anything else is a refusal (never an exception). */
export function parseMcpMessage(body: Buffer): McpMessage | McpRefusal {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return refusal(PARSE_ERROR, "invalid_encoding");
  }
  // ignoreBOM keeps a byte order mark in the text: refused as an encoding (docs/mcp.md), not parsed.
  if (text.charCodeAt(0) === 0xfeff) return refusal(PARSE_ERROR, "invalid_encoding");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refusal(PARSE_ERROR, "malformed_json", "the body is not valid JSON");
  }
  if (Array.isArray(value)) return refusal(INVALID_REQUEST, "batch_not_supported");
  const shape = firstDuplicateMember(text, MAX_DEPTH);
  if (shape === TOO_DEEP) return refusal(INVALID_REQUEST, "invalid_jsonrpc", `not a JSON-RPC 2.0 message: nested deeper than ${MAX_DEPTH} levels`);
  if (shape !== null) return refusal(PARSE_ERROR, "duplicate_member", `the member name ${JSON.stringify(shape.slice(0, 64))} appears twice in one object (case and compatibility forms ignored)`);
  // Only a text with "proto" or an escape can hold such a name (U+0000 is always escaped in JSON).
  if (text.includes("proto") || text.includes("\\u")) {
    const name = misreadMember(value);
    if (name !== null) return refusal(INVALID_REQUEST, "invalid_jsonrpc", `not a JSON-RPC 2.0 message: a member is named ${JSON.stringify(name.slice(0, 64))}`);
  }
  return message(value);
}

/**
 * A member name, at any depth (bounded: MAX_DEPTH), that some server reads as another: "__proto__",
 * which JSON.parse keeps as a plain member but a JavaScript server that copies the message
 * (Object.assign, a deep merge) makes the prototype, reading "method" or "params" through it;
 * and a name holding U+0000, which C parsers (cJSON) cut there ("method\u0000x" is "method").
 * Null when there is none.
 */
function misreadMember(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return null;
  const children = Array.isArray(value) ? value : Object.values(value);
  if (!Array.isArray(value)) {
    for (const name of Object.keys(value)) if (name === "__proto__" || name.includes("\0")) return name;
  }
  for (const child of children) {
    const name = misreadMember(child);
    if (name !== null) return name;
  }
  return null;
}

/**
 * A string (well-formed: a lone surrogate does not survive UTF-8, so the upstream would answer
 * another id than the one recorded) or a safe integer.
 */
function isId(value: unknown): value is string | number {
  return (typeof value === "string" && value.length <= MAX_URI && isWellFormed(value)) || (typeof value === "number" && Number.isSafeInteger(value));
}

function message(value: unknown): McpMessage | McpRefusal {
  const invalid = (why: string, id: JsonRpcId = null) => refusal(INVALID_REQUEST, "invalid_jsonrpc", `not a JSON-RPC 2.0 message: ${why}`, id);
  if (typeof value !== "object" || value === null) return invalid("the body must be an object");
  const m = value as Record<string, unknown>;
  const id: JsonRpcId = isId(m.id) ? m.id : null;
  const respelt = otherSpelling(m, ENVELOPE_MEMBERS) ?? (typeof m.params === "object" && m.params !== null && !Array.isArray(m.params) ? otherSpelling(m.params as Record<string, unknown>, PARAMS_MEMBERS) : null);
  if (respelt !== null) return invalid(`${JSON.stringify(respelt.slice(0, 64))} is another spelling of a JSON-RPC or MCP member name`, id);
  if (m.jsonrpc !== "2.0") return invalid('"jsonrpc" must be "2.0"', id);
  if ("id" in m && !isId(m.id)) return invalid('"id" must be a well-formed string or an integer');
  if (!("method" in m)) {
    // A response to a request of the server (sampling, elicitation, roots).
    if (id === null || ("result" in m) === ("error" in m)) return invalid('a message without "method" is a response: an "id" and one of "result" or "error"');
    return { kind: "response", id, call: { method: "rpc.response" }, name: null };
  }
  const method = m.method;
  if (typeof method !== "string" || method === "" || method.length > MAX_NAME || !isWellFormed(method)) return invalid('"method" must be a non-empty string', id);
  if (method.startsWith("rpc.")) return invalid('method names beginning with "rpc." are reserved', id);
  // A request or notification carries no result or error: a server could take it for a response.
  if ("result" in m || "error" in m) return invalid('a message with "method" has no "result" or "error"', id);
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

/**
 * A member of `object` that a case-insensitive decoder reads as one of `members` but is not
 * spelt as it ("Method", "paramſ"): Tollgate would judge the message without it, such a
 * decoder with it. Null when there is none.
 */
function otherSpelling(object: Record<string, unknown>, members: ReadonlyMap<string, string>): string | null {
  for (const name of Object.keys(object)) {
    const meant = members.get(foldName(name));
    if (meant !== undefined && meant !== name) return name;
  }
  return null;
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

/** firstDuplicateMember's answer for a text nested deeper than its limit. */
export const TOO_DEEP = Symbol("too deep");

/**
 * The first member name that appears twice in one object of a valid JSON text, names compared
 * as a case-insensitive decoder compares them (foldName), or null; TOO_DEEP when objects and
 * arrays nest deeper than `maxDepth`. Runs only on text JSON.parse accepted, so it need only
 * tell strings, and keys, from the rest.
 */
export function firstDuplicateMember(text: string, maxDepth = Infinity): string | typeof TOO_DEEP | null {
  // One entry per open container: the folded names seen so far (objects) or null (arrays).
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
          const folded = foldName(name);
          if (names.has(folded)) return name;
          names.add(folded);
        }
      }
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length === maxDepth) return TOO_DEEP;
      stack.push(c === 0x7b ? new Set() : null);
    }
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    i++;
  }
  return null;
}
