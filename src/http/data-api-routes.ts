import { randomUUID } from "node:crypto";
import express, { type ErrorRequestHandler, type RequestHandler, Router } from "express";
import { z } from "zod";
import { writeOpaError } from "../api/error-writer.js";
import type { Decision } from "../decision/authorizer.js";
import type { Logger } from "../log.js";
import { type Decide, METHOD, PATH } from "./decision-request.js";
import { continueIfExpected } from "./server.js";

const dataApiBody = z.object({
  input: z.object({
    method: METHOD,
    path: PATH,
    headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  }),
});

// The decision document's fields: a path into any other is undefined without deciding.
const DECISION_FIELDS: Record<keyof Decision, true> = {
  allow: true,
  status: true,
  reasons: true,
  access: true,
  route: true,
  subject: true,
  rate_limit: true,
  granted_projects: true,
  decision_id: true,
  policy_revision: true,
};

/**
 * OPA's Data API, mounted at /v1/data, as OPA answers it: the decision (or a field of it) at
 * data.tollgate.authz.decision, undefined (no `result`) for any other document, and OPA's error
 * body `{"code","message"}`.
 */
export function dataApiRoutes(decide: Decide, maxBodyBytes: number, logger: Logger): Router {
  // OPA's document paths are case-sensitive: data.tollgate.authz.Decision is not the decision.
  const router = Router({ caseSensitive: true });
  // OPA reads the body as JSON whatever its Content-Type says; a client that waits for
  // 100 Continue is told to send it.
  const json = express.json({ limit: maxBodyBytes, strict: true, type: () => true });
  const body: RequestHandler = (req, res, next) => {
    continueIfExpected(res);
    json(req, res, next);
  };

  const decision: RequestHandler = async (req, res) => {
    const field = (req.params as { field?: string[] }).field ?? [];
    if (field.length > 0 && !Object.hasOwn(DECISION_FIELDS, field[0]!)) return answerUndefined(res);
    const parsed = dataApiBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return invalidParameter(res, `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const { input } = parsed.data;
    const authorization = headerValue(input.headers, "authorization");
    if (typeof authorization !== "string" && authorization !== null) return invalidParameter(res, authorization.error);
    const { decision: made } = await decide("data_api", { method: input.method, path: input.path, authorization }, req);
    const result = select(made, field);
    res.json(result === undefined ? { decision_id: made.decision_id } : { result, decision_id: made.decision_id });
  };

  router.post("/tollgate/authz/decision", body, decision);
  router.post("/tollgate/authz/decision/*field", body, decision);
  router.get("{/*path}", undefinedDocument);
  router.post("{/*path}", body, undefinedDocument);
  router.use(opaErrors(logger, maxBodyBytes));
  return router;
}

/** OPA's answer for a document that does not exist: 200 without `result`. */
function answerUndefined(res: express.Response): void {
  res.json({ decision_id: randomUUID() });
}

const undefinedDocument: RequestHandler = (_req, res) => answerUndefined(res);

function invalidParameter(res: express.Response, message: string): void {
  writeOpaError(res, "invalid_parameter", message);
}

/** Errors in OPA's shape: the client's mistakes 400 invalid_parameter, anything else 500 internal_error. */
function opaErrors(logger: Logger, maxBodyBytes: number): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const bodyError = err as { type?: string; status?: number };
    if (bodyError.type === "request.aborted") return;
    if (bodyError.type === "entity.parse.failed") return invalidParameter(res, "the request body is not valid JSON");
    if (err instanceof URIError) return invalidParameter(res, "the document path is not valid percent-encoding");
    if (bodyError.type === "entity.too.large") return invalidParameter(res, `the request body is over ${maxBodyBytes} bytes`);
    if (typeof bodyError.status === "number" && bodyError.status >= 400 && bodyError.status < 500) return invalidParameter(res, "the request body cannot be read as UTF-8 JSON");
    logger.error({ err, method: req.method, path: req.path }, "Data API request failed");
    writeOpaError(res, "internal_error");
  };
}

/** The value at `path` inside `value` (object keys, array indexes), or undefined. */
function select(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(key)) current = current[Number(key)];
    else if (current !== null && typeof current === "object" && !Array.isArray(current) && Object.hasOwn(current, key)) current = (current as Record<string, unknown>)[key];
    else return undefined;
  }
  return current;
}

/**
 * The one value of a header in `input.headers`, or null. Several values (an array of more than
 * one, or keys that differ only in case) are refused, as two Authorization fields are on the wire.
 */
function headerValue(headers: Record<string, string | string[]> | undefined, name: string): string | null | { error: string } {
  const values = Object.entries(headers ?? {})
    .filter(([key]) => key.toLowerCase() === name)
    .flatMap(([, value]) => value);
  if (values.length > 1) return { error: `input.headers: send ${name} once` };
  return values[0] ?? null;
}
