import type { RequestHandler } from "express";
import { sendError } from "./errors.js";

/**
 * Limits on the header section, before anything reads it. Counted on the raw field list: Node's
 * parsed headers keep only the first of duplicate Authorization fields (so a second credential
 * would go unseen) and stop at the server's maxHeadersCount (createHttpServer sets it past the
 * limit, so an over-long list is still seen as over).
 */
export function requestLimits(maxHeaderFields: number): RequestHandler {
  return (req, res, next) => {
    const fields = req.rawHeaders.length / 2;
    if (fields > maxHeaderFields) {
      return sendError(res, 431, "too_many_headers", `send at most ${maxHeaderFields} header fields`);
    }
    let authorizations = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === "authorization") authorizations++;
    }
    if (authorizations > 1) return sendError(res, 400, "invalid_request", "send one Authorization header field");
    next();
  };
}
