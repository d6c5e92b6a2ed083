import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import { writeError } from "../api/error-writer.js";

/**
 * Limits on the header section, before anything reads it; answers and returns false when one is
 * broken. Counted on the raw field list: Node's parsed headers keep only the first of duplicate
 * Authorization fields (so a second credential would go unseen) and stop at the server's
 * maxHeadersCount (createHttpServer sets it past the limit, so an over-long list is still seen as over).
 */
export function withinHeaderLimits(req: IncomingMessage, res: ServerResponse, maxHeaderFields: number): boolean {
  const raw = req.rawHeaders;
  if (raw.length / 2 > maxHeaderFields) {
    writeError(res, { code: "too_many_headers", message: `send at most ${maxHeaderFields} header fields` });
    return false;
  }
  let authorizations = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === "authorization") authorizations++;
  }
  if (authorizations > 1) {
    writeError(res, { code: "invalid_request", message: "send one Authorization header field" });
    return false;
  }
  return true;
}

/** withinHeaderLimits() for the Express app. */
export function requestLimits(maxHeaderFields: number): RequestHandler {
  return (req, res, next) => {
    if (withinHeaderLimits(req, res, maxHeaderFields)) next();
  };
}
