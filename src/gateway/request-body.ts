import type { IncomingMessage, ServerResponse } from "node:http";

/** A declared body up to this size is read and dropped after an early answer. */
const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * Prepares an answer given without reading the request's body. A small declared body is drained
 * so the connection can carry the next request; a larger or chunked one stays unread and the
 * answer closes the connection. (Node itself closes after answering a client that still waits
 * for 100 Continue: that body was never sent.)
 */
export function skipBody(req: IncomingMessage, res: ServerResponse): void {
  if (!hasBody(req)) return;
  if (req.headers["transfer-encoding"] !== undefined || declaredLength(req) > DRAIN_MAX_BYTES) {
    res.setHeader("Connection", "close");
    return;
  }
  req.resume();
}

/** The request has a body: chunked, or a Content-Length above 0. */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || declaredLength(req) > 0;
}

/** The body's length as the request declares it (Content-Length), 0 when it declares none. */
export function declaredLength(req: IncomingMessage): number {
  return Number(req.headers["content-length"] ?? 0);
}
