import type { ServerResponse } from "node:http";
import type { ErrorRequestHandler, RequestHandler } from "express";
import { type ErrorReply, writeCaught, writeError } from "../api/error-writer.js";
import type { Logger } from "../log.js";
import { continueIfExpected } from "./server.js";

/**
 * Body parsing only where a route takes a body: JSON, bounded, or a clear 4xx. A client waiting
 * for 100 Continue gets it here, once the route is known to read a body.
 */
export function requireJson(): RequestHandler {
  return (req, res, next) => {
    if (!req.is("application/json")) return writeError(res, { code: "unsupported_media_type" });
    continueIfExpected(res);
    next();
  };
}

/** Express's body parser's failures as catalogue errors; null for anything else. */
function bodyParserReply(err: { type?: unknown; status?: unknown; expose?: unknown }): ErrorReply | null {
  switch (err.type) {
    case "entity.parse.failed":
      return { code: "malformed_json" };
    case "entity.too.large":
      return { code: "body_too_large" };
    case "encoding.unsupported":
    case "charset.unsupported":
      return { code: "unsupported_media_type", message: "the body must be UTF-8 JSON" };
  }
  // Any other body read failure (e.g. bytes that do not decode as their Content-Encoding):
  // the body parser marks it 400 and exposable.
  if (err.status === 400 && err.expose === true) return { code: "malformed_json", message: "the request body cannot be read (check its Content-Encoding)" };
  return null;
}

/**
 * The Express adapter of the error writer: the body parser's failures translated here, every
 * other error as the writer answers it (a generic 500 with details only in the log for the unknown).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => writeRequestError(res, err, logger, { method: req.method, path: req.path });
}

/** What errorHandler answers, on a plain node response: for the hot paths outside Express. */
export function writeRequestError(res: ServerResponse, err: unknown, logger: Logger, where: { method?: string; path: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const bodyError = (err ?? {}) as { type?: unknown; status?: unknown; expose?: unknown };
  if (bodyError.type === "request.aborted") return;
  const fromBody = typeof err === "object" ? bodyParserReply(bodyError) : null;
  if (fromBody) return writeError(res, fromBody);
  writeCaught(res, err, logger, where);
}

export const notFound: RequestHandler = (_req, res) => writeError(res, { code: "not_found" });
