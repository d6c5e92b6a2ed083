// The gateway's side of a project's MCP endpoint: read the one JSON-RPC message a POST carries
// (bounded) and check it and its headers. The bytes read are the bytes forwarded. node:http
// only; refusals and denials are written as JSON-RPC by src/api/error-writer.ts.
import type { IncomingMessage, ServerResponse } from "node:http";
import { continueIfExpected } from "../http/server.js";
import { headerMismatch, parseMcpMessage, tooLarge, type McpMessage, type McpRefusal } from "./jsonrpc.js";

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
  if ("reason" in message) return message;
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
