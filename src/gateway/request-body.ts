import type { IncomingMessage, ServerResponse } from "node:http";
import { awaitsContinue } from "../http/server.js";

/** A declared body up to this size is read and dropped after an early answer. */
export const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * Prepares an answer given without reading the request's body. A small declared body is drained
 * so the connection can carry the next request. A larger or chunked body stays unread and the
 * answer closes the connection, and so does any body the client holds back for 100 Continue.
 */
export function skipBody(req: IncomingMessage, res: ServerResponse): void {
  const chunked = req.headers["transfer-encoding"] !== undefined;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (chunked || declared > DRAIN_MAX_BYTES || (awaitsContinue(res) && declared > 0)) {
    res.setHeader("Connection", "close");
    return;
  }
  req.resume();
}
