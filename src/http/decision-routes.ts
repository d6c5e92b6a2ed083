import express, { type ErrorRequestHandler, type RequestHandler, type Response, Router } from "express";
import { z } from "zod";
import { writeDenial, writeError } from "../api/error-writer.js";
import { auditRecordFromDecision } from "../audit/record.js";
import type { AuditSink } from "../audit/types.js";
import type { AuthorizedRequest, Authorizer } from "../decision/authorizer.js";
import type { Logger } from "../log.js";
import { clientAddress, type TrustedProxies } from "./client-address.js";
import { dataApiRoutes } from "./data-api-routes.js";
import { setDecisionHeaders } from "./decision-headers.js";
import { AUTHORIZATION, type Decide, forwardedRequest, METHOD, PATH } from "./decision-request.js";
import { requireJson } from "./errors.js";

const authorizeBody = z
  .object({ method: METHOD, path: PATH, authorization: AUTHORIZATION, dry_run: z.boolean().optional() })
  .strict();

/** Envoy's ext_authz path_prefix: what follows it is the request target being judged. */
const EXT_AUTHZ_PREFIX = "/v1/ext-authz";

/** POST /v1/authorize, OPA's Data API, forward auth for nginx and Traefik, and Envoy's ext_authz. */
export function decisionRoutes(authorizer: Authorizer, audit: AuditSink, maxBodyBytes: number, windowMs: number, trustedProxies: TrustedProxies, logger: Logger): Router {
  // Every decision-endpoint call leaves an audit record; writing never delays the answer.
  const decide: Decide = async (source, request, client) => {
    const started = process.hrtime.bigint();
    const time = new Date();
    const client_address = clientAddress(client, trustedProxies);
    const authorized = await authorizer.authorizeWithFacts(request);
    const { decision } = authorized;
    audit.record(auditRecordFromDecision(decision, { source, method: request.method, path: request.path, time, latency_ms: Number(process.hrtime.bigint() - started) / 1e6, client_address, user_agent: client.headers["user-agent"] ?? null }));
    return authorized;
  };
  // For proxies: the decision's status, headers and, on denial, its JSON body.
  const answer = (res: Response, authorized: AuthorizedRequest): void => {
    const { decision } = authorized;
    setDecisionHeaders(res, authorized, Math.round(windowMs / 1000));
    if (decision.allow) res.status(200).end();
    else writeDenial(res, decision);
  };
  const router = Router();
  const json = [requireJson(), express.json({ limit: maxBodyBytes, strict: true })];

  router.post("/v1/authorize", ...json, async (req, res) => {
    const body = authorizeBody.parse(req.body);
    const { decision } = await decide("authorize", {
      method: body.method,
      path: body.path,
      authorization: body.authorization ?? null,
      dryRun: body.dry_run ?? false,
    }, req);
    res.json(decision);
  });

  router.use("/v1/data", dataApiRoutes(decide, maxBodyBytes, logger));

  router.get("/v1/forward-auth", async (req, res) => {
    const described = forwardedRequest(req.rawHeaders);
    if ("error" in described) return writeError(res, { code: "invalid_request", message: described.error });
    if (!METHOD.safeParse(described.method).success || !PATH.safeParse(described.uri).success) {
      return writeError(res, { code: "invalid_request", message: `${described.names} are malformed` });
    }
    const authorized = await decide("forward_auth", { method: described.method, path: described.uri, authorization: req.get("authorization") ?? null }, req);
    // nginx's auth_request sees only 2xx/401/403: the real status travels in this header.
    res.set("X-Tollgate-Status", String(authorized.decision.status));
    answer(res, authorized);
  });

  // Envoy's HTTP ext_authz sends the original method to path_prefix + the original target, with
  // the client's Authorization and without the body; any method may arrive.
  const extAuthz: RequestHandler = async (req, res) => {
    const target = req.originalUrl.slice(EXT_AUTHZ_PREFIX.length);
    if (!req.originalUrl.toLowerCase().startsWith(EXT_AUTHZ_PREFIX) || !target.startsWith("/") || !PATH.safeParse(target).success) {
      return writeError(res, { code: "invalid_request", message: `send the request target after ${EXT_AUTHZ_PREFIX}, e.g. ${EXT_AUTHZ_PREFIX}/api/v1/projects` });
    }
    if (!METHOD.safeParse(req.method).success) return writeError(res, { code: "invalid_request", message: "the method must be letters only" });
    answer(res, await decide("ext_authz", { method: req.method, path: target, authorization: req.get("authorization") ?? null }, req));
  };
  router.all(`${EXT_AUTHZ_PREFIX}{/*target}`, extAuthz);
  // The router percent-decodes the target parameter while matching and fails on a malformed
  // escape; the policy judges the raw target, so that target is decided like any other.
  const undecodable: ErrorRequestHandler = (err, req, res, next) => (err instanceof URIError ? extAuthz(req, res, next) : next(err));
  router.use(EXT_AUTHZ_PREFIX, undecodable);

  return router;
}
