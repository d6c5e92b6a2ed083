import type { RequestHandler } from "express";
import { writeError } from "../api/error-writer.js";

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
      return writeError(res, { code: "too_many_headers", message: `send at most ${maxHeaderFields} header fields` });
    }
    let authorizations = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === "authorization") authorizations++;
    }
    if (authorizations > 1) return writeError(res, { code: "invalid_request", message: "send one Authorization header field" });
    next();
  };
}
