import express, { type Request, type Response, Router } from "express";
import { z } from "zod";
import { auditRecordFromDecision } from "../audit/record.js";
import type { AuditSink, AuditSource } from "../audit/types.js";
import type { Authorizer, AuthorizeRequest, Decision } from "../decision/authorizer.js";
import { clientAddress, type TrustedProxies } from "./client-address.js";
import { denialBody, setDecisionHeaders } from "./decision-headers.js";
import { requireJson, sendError } from "./errors.js";

const METHOD = z.string().regex(/^[A-Za-z]{1,16}$/, "must be an HTTP method such as GET");
const PATH = z.string().min(1).max(4096);
const AUTHORIZATION = z.string().max(8192).nullable().optional();

const authorizeBody = z
  .object({ method: METHOD, path: PATH, authorization: AUTHORIZATION, dry_run: z.boolean().optional() })
  .strict();

const dataApiBody = z.object({
  input: z.object({
    method: METHOD,
    path: PATH,
    headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  }),
});

/** POST /v1/authorize, the OPA Data API form, and forward auth for nginx and Traefik. */
export function decisionRoutes(authorizer: Authorizer, audit: AuditSink, maxBodyBytes: number, windowMs: number, trustedProxies: TrustedProxies): Router {
  // Every decision-endpoint call leaves an audit record; writing never delays the answer.
  const decide = async (source: AuditSource, request: AuthorizeRequest, req: Request): Promise<Decision> => {
    const started = process.hrtime.bigint();
    const time = new Date();
    const client_address = clientAddress(req, trustedProxies);
    const decision = await authorizer.authorize(request);
    audit.record(auditRecordFromDecision(decision, { source, method: request.method, path: request.path, time, latency_ms: Number(process.hrtime.bigint() - started) / 1e6, client_address }));
    return decision;
  };
  const setHeaders = (res: Response, decision: Decision): void => setDecisionHeaders(res, decision, Math.round(windowMs / 1000));
  const router = Router();
  const json = [requireJson(), express.json({ limit: maxBodyBytes, strict: true })];

  router.post("/v1/authorize", ...json, async (req, res) => {
    const body = authorizeBody.parse(req.body);
    const decision = await decide("authorize", {
      method: body.method,
      path: body.path,
      authorization: body.authorization ?? null,
      dryRun: body.dry_run ?? false,
    }, req);
    res.json(decision);
  });

  router.post("/v1/data/tollgate/authz/decision", ...json, async (req, res) => {
    const { input } = dataApiBody.parse(req.body);
    const decision = await decide("data_api", {
      method: input.method,
      path: input.path,
      authorization: headerValue(input.headers, "authorization"),
    }, req);
    res.json({ result: decision, decision_id: decision.decision_id });
  });

  router.get("/v1/forward-auth", async (req, res) => {
    const original = { method: req.get("x-original-method"), uri: req.get("x-original-uri") };
    const forwarded = { method: req.get("x-forwarded-method"), uri: req.get("x-forwarded-uri") };
    // A proxy that passes the client's headers along (Traefik does by default) would let a
    // client name another request in the other pair: two pairs that disagree are refused.
    if (original.uri && forwarded.uri && (original.uri !== forwarded.uri || original.method !== forwarded.method)) {
      return sendError(res, 400, "invalid_request", "X-Original-* and X-Forwarded-* describe different requests; send one pair");
    }
    const method = original.method ?? forwarded.method;
    const uri = original.uri ?? forwarded.uri;
    if (!method || !uri) {
      return sendError(res, 400, "invalid_request", "send X-Original-Method and X-Original-URI (nginx) or X-Forwarded-Method and X-Forwarded-Uri (Traefik)");
    }
    if (!METHOD.safeParse(method).success || !PATH.safeParse(uri).success) {
      return sendError(res, 400, "invalid_request", "X-Original-Method/X-Original-URI are malformed");
    }
    const decision = await decide("forward_auth", { method, path: uri, authorization: req.get("authorization") ?? null }, req);
    setHeaders(res, decision);
    // nginx's auth_request sees only 2xx/401/403: the real status travels in this header.
    res.set("X-Tollgate-Status", String(decision.status));
    if (decision.allow) return res.status(200).end();
    res.status(decision.status).json(denialBody(decision));
  });

  return router;
}

function headerValue(headers: Record<string, string | string[]> | undefined, name: string): string | null {
  if (!headers) return null;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? (value[0] ?? null) : value;
  }
  return null;
}
