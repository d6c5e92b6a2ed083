// The gateway's side of a project's MCP endpoint: read the one JSON-RPC message a POST carries
// (bounded), check it and its headers, and answer a refusal or a denial as JSON-RPC. The bytes
// read are the bytes forwarded. node:http only; the gateway calls these and nothing else.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Decision } from "../decision/authorizer.js";
import { continueIfExpected } from "../http/server.js";
import { headerMismatch, jsonRpcError, parseMcpMessage, tooLarge, type JsonRpcId, type McpMessage, type McpRefusal } from "./jsonrpc.js";

export interface ReadMessage {
  message: McpMessage;
  /** Exactly the bytes judged: what the upstream receives. */
  body: Buffer;
}

/** Reads and checks the message; a refusal says what to answer (the policy is not asked). Null: the client went away. */
export async function readMcpMessage(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<ReadMessage | McpRefusal | null> {
  const body = await readBody(req, res, maxBytes);
  if (body === "aborted") return null;
  if (body === "too_large") return tooLarge(maxBytes);
  const message = parseMcpMessage(body);
  if ("status" in message) return message;
  const mismatch = headerMismatch(message, {
    protocolVersion: single(req.headers["mcp-protocol-version"]),
    method: single(req.headers["mcp-method"]),
    name: single(req.headers["mcp-name"]),
  });
  return mismatch ?? { message, body };
}

function single(value: string | string[] | undefined): string | undefined {
  // Node joins repeated fields with ", "; a repeated Mcp-Method then never equals a method.
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * The body, up to maxBytes. Past the cap (declared or as it arrives) reading stops and the
 * answer closes the connection.
 */
function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer | "too_large" | "aborted"> {
  if (Number(req.headers["content-length"] ?? 0) > maxBytes) {
    res.setHeader("Connection", "close");
    return Promise.resolve("too_large");
  }
  continueIfExpected(res);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (outcome: Buffer | "too_large" | "aborted"): void => {
      req.off("data", onData).off("end", onEnd).off("error", onAbort).off("aborted", onAbort);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        res.setHeader("Connection", "close");
        done("too_large");
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    const onAbort = (): void => done("aborted");
    req.on("data", onData).on("end", onEnd).on("error", onAbort).on("aborted", onAbort);
  });
}

/** Answers a message refused before the policy: its HTTP status and JSON-RPC error. */
export function writeRefusal(res: ServerResponse, refusal: McpRefusal, body: string): void {
  res.writeHead(refusal.status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) }).end(body);
}

/** JSON-RPC error codes of a denial, by the decision's HTTP status (which the answer keeps). */
const DENIAL_CODES: Record<number, number> = { 403: -32003, 429: -32029 };
const OTHER_DENIAL_CODE = -32000;

/** A denied message's JSON-RPC error: `data` carries the reasons and the decision id. */
export function mcpDenialBody(decision: Decision, id: JsonRpcId, message: string): string {
  return jsonRpcError(id, DENIAL_CODES[decision.status] ?? OTHER_DENIAL_CODE, message, { reasons: decision.reasons, decision_id: decision.decision_id });
}
