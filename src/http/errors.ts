import type { ServerResponse } from "node:http";
import type { ErrorRequestHandler, RequestHandler } from "express";
import { ZodError } from "zod";
import { RequestError } from "../errors.js";
import type { Logger } from "../log.js";
import { DuplicateError, NotFoundError, StoreValidationError } from "../stores/types.js";
import { isUnavailable } from "../errors.js";
import { continueIfExpected } from "./server.js";
import { writeJson } from "./write-json.js";

/** `{"error":{"code","message","field"?}}` with `status`; takes a plain node response (Express's is one). */
export function sendError(res: ServerResponse, status: number, code: string, message: string, field?: string): void {
  writeJson(res, status, { error: { code, message, ...(field ? { field } : {}) } });
}

/**
 * Body parsing only where a route takes a body: JSON, bounded, or a clear 4xx. A client waiting
 * for 100 Continue gets it here, once the route is known to read a body.
 */
export function requireJson(): RequestHandler {
  return (req, res, next) => {
    if (!req.is("application/json")) {
      sendError(res, 415, "unsupported_media_type", "send the body as application/json");
      return;
    }
    continueIfExpected(res);
    next();
  };
}

/**
 * One table from error to status. A client's mistake is a 4xx naming the field; a backend
 * that is down is a 503; anything else is a generic 500 with details only in the log.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => writeCaught(res, err, logger, { method: req.method, path: req.path });
}

/** Answers any thrown error as errorHandler does: for handlers outside Express (the hot paths). */
export function writeCaught(res: ServerResponse, err: unknown, logger: Logger, where: { method: string | undefined; path: string | undefined }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const bodyError = err as { type?: string; status?: number };
  if (bodyError.type === "entity.parse.failed") return sendError(res, 400, "malformed_json", "the request body is not valid JSON");
  if (bodyError.type === "entity.too.large") return sendError(res, 413, "body_too_large", "the request body is too large");
  if (bodyError.type === "encoding.unsupported" || bodyError.type === "charset.unsupported") {
    return sendError(res, 415, "unsupported_media_type", "the body must be UTF-8 JSON");
  }
  if (bodyError.type === "request.aborted") return;
  // The router could not percent-decode a path parameter (e.g. /v1/admin/users/a%zz).
  if (err instanceof URIError) return sendError(res, 400, "invalid_request", "a path segment is not valid percent-encoding");
  if (err instanceof ZodError) {
    const issue = err.issues[0]!;
    const field = issue.path.join(".") || undefined;
    return sendError(res, 400, "invalid_request", field ? `${field}: ${issue.message}` : issue.message, field);
  }
  if (err instanceof RequestError) return sendError(res, err.status, err.code, err.message, err.field);
  if (err instanceof StoreValidationError) return sendError(res, 400, "invalid_request", err.message, err.field);
  if (err instanceof NotFoundError) return sendError(res, 404, "not_found", err.message);
  if (err instanceof DuplicateError) return sendError(res, 409, "conflict", err.message, err.field);
  if (isUnavailable(err)) {
    logger.error({ err: String(err), path: where.path }, "backend unavailable");
    return sendError(res, 503, "backend_unavailable", "a backend Tollgate needs is unavailable; try again");
  }
  // Any other body read failure (e.g. bytes that do not decode as their Content-Encoding):
  // the body parser marks it 400 and exposable.
  if (bodyError.status === 400 && (err as { expose?: unknown }).expose === true) {
    return sendError(res, 400, "malformed_json", "the request body cannot be read (check its Content-Encoding)");
  }
  logger.error({ err, method: where.method, path: where.path }, "unhandled error");
  return sendError(res, 500, "internal_error", "internal error");
}

export const notFound: RequestHandler = (_req, res) => sendError(res, 404, "not_found", "no such endpoint");
