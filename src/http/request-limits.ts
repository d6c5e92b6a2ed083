import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import { type ErrorReply, writeError } from "../api/error-writer.js";

/**
 * Limits on the header section, before anything reads it; answers and returns false when one is
 * broken. Counted on the raw field list: Node's parsed headers keep only the first of duplicate
 * Authorization fields (so a second credential would go unseen) and stop at the server's
 * maxHeadersCount (createHttpServer sets it past the limit, so an over-long list is still seen as over).
 */
export function withinHeaderLimits(req: IncomingMessage, res: ServerResponse, maxHeaderFields: number): boolean {
  const broken = headerLimitBroken(req, maxHeaderFields);
  if (broken) writeError(res, broken);
  return broken === null;
}

/** The answer to a request that breaks a limit on its header section; null when it keeps them. */
export function headerLimitBroken(req: IncomingMessage, maxHeaderFields: number): (ErrorReply & { code: "too_many_headers" | "invalid_request" }) | null {
  const raw = req.rawHeaders;
  if (raw.length / 2 > maxHeaderFields) return { code: "too_many_headers", message: `send at most ${maxHeaderFields} header fields` };
  let authorizations = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === "authorization") authorizations++;
  }
  if (authorizations > 1) return { code: "invalid_request", message: "send one Authorization header field" };
  return null;
}

/** withinHeaderLimits() for the Express app. */
export function requestLimits(maxHeaderFields: number): RequestHandler {
  return (req, res, next) => {
    if (withinHeaderLimits(req, res, maxHeaderFields)) next();
  };
}
