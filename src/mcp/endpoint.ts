// The gateway's side of a project's MCP endpoint: read the one JSON-RPC message a POST carries
// (bounded, with the hot paths' one body reader) and check it and its headers. The bytes read
// are the bytes forwarded. node:http only; refusals and denials are written as JSON-RPC by
// src/api/error-writer.ts.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { readBody, utf8Charset } from "../http/json-body.js";
import { skipBody } from "../gateway/request-body.js";
import { headerMismatch, notPlainJson, parseMcpMessage, tooLarge, type McpMessage, type McpRefusal } from "./jsonrpc.js";

export interface ReadMessage {
  message: McpMessage;
  /** Exactly the bytes judged: what the upstream receives. */
  body: Buffer;
}

/**
 * Reads and checks the message; a refusal says what to answer (the policy is not asked). Past
 * the cap (declared or as it arrives) the answer closes the connection. Null: the client went away.
 */
export async function readMcpMessage(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<ReadMessage | McpRefusal | null> {
  if (!plainJson(req.headers)) {
    skipBody(req, res);
    return notPlainJson();
  }
  const body = await readBody(req, res, maxBytes);
  if (body === "aborted") return null;
  if (body === "too_large") {
    res.setHeader("Connection", "close");
    return tooLarge(maxBytes);
  }
  const message = parseMcpMessage(body);
  if ("reason" in message) return message;
  const mismatch = headerMismatch(message, {
    protocolVersion: single(req.headers["mcp-protocol-version"]),
    method: single(req.headers["mcp-method"]),
    name: single(req.headers["mcp-name"]),
  });
  return mismatch ? { ...mismatch, refused: message } : { message, body };
}

/** The Mcp-Session-Id header as received (for the audit record); null when absent. */
export function mcpSessionId(req: IncomingMessage): string | null {
  return single(req.headers["mcp-session-id"]) ?? null;
}

/**
 * `Content-Type: application/json` with no charset or a UTF-8 one, and no Content-Encoding but
 * `identity`: the upstream reads the bytes as Tollgate judged them. A body labelled gzip, br or
 * deflate, or another charset (UTF-7 spells `"` as `+ACI-`), is decoded by the upstream into
 * another message than the one judged.
 */
function plainJson(headers: IncomingHttpHeaders): boolean {
  const encoding = headers["content-encoding"];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") return false;
  const type = headers["content-type"];
  if (type === undefined) return false;
  const semi = type.indexOf(";");
  // Two charset parameters: which one the upstream reads is not ours to guess.
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase() === "application/json" && utf8Charset(type) && (type.match(/charset/gi)?.length ?? 0) <= 1;
}

function single(value: string | string[] | undefined): string | undefined {
  // Node joins repeated fields with ", "; a repeated Mcp-Method then never equals a method.
  return Array.isArray(value) ? value.join(", ") : value;
}
