import express, { type ErrorRequestHandler, type RequestHandler, type Response, Router } from "express";
import { z } from "zod";
import type { DecisionService, Verdict } from "../decision/service.js";
import type { Logger } from "../log.js";
import { clientAddress, type TrustedProxies } from "./client-address.js";
import { dataApiRoutes } from "./data-api-routes.js";
import { denialBody, setDecisionHeaders } from "./decision-headers.js";
import { AUTHORIZATION, type Decide, forwardedRequest, METHOD, PATH } from "./decision-request.js";
import { requireJson, sendError } from "./errors.js";

const authorizeBody = z
  .object({ method: METHOD, path: PATH, authorization: AUTHORIZATION, dry_run: z.boolean().optional() })
  .strict();

/** Envoy's ext_authz path_prefix: what follows it is the request target being judged. */
const EXT_AUTHZ_PREFIX = "/v1/ext-authz";

/** POST /v1/authorize, OPA's Data API, forward auth for nginx and Traefik, and Envoy's ext_authz. */
export function decisionRoutes(decisions: DecisionService, maxBodyBytes: number, windowMs: number, trustedProxies: TrustedProxies, logger: Logger): Router {
  // Every decision-endpoint call leaves an audit record (the service writes it).
  const decide: Decide = (source, request, client) => decisions.decide({ ...request, source, clientAddress: clientAddress(client, trustedProxies) });
  // For proxies: the decision's status, headers and, on denial, its JSON body.
  const answer = (res: Response, verdict: Verdict): void => {
    const { decision } = verdict;
    setDecisionHeaders(res, verdict, Math.round(windowMs / 1000));
    if (decision.allow) res.status(200).end();
    else res.status(decision.status).json(denialBody(decision));
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
    if ("error" in described) return sendError(res, 400, "invalid_request", described.error);
    if (!METHOD.safeParse(described.method).success || !PATH.safeParse(described.uri).success) {
      return sendError(res, 400, "invalid_request", `${described.names} are malformed`);
    }
    const verdict = await decide("forward_auth", { method: described.method, path: described.uri, authorization: req.get("authorization") ?? null }, req);
    // nginx's auth_request sees only 2xx/401/403: the real status travels in this header.
    res.set("X-Tollgate-Status", String(verdict.decision.status));
    answer(res, verdict);
  });

  // Envoy's HTTP ext_authz sends the original method to path_prefix + the original target, with
  // the client's Authorization and without the body; any method may arrive.
  const extAuthz: RequestHandler = async (req, res) => {
    const target = req.originalUrl.slice(EXT_AUTHZ_PREFIX.length);
    if (!req.originalUrl.toLowerCase().startsWith(EXT_AUTHZ_PREFIX) || !target.startsWith("/") || !PATH.safeParse(target).success) {
      return sendError(res, 400, "invalid_request", `send the request target after ${EXT_AUTHZ_PREFIX}, e.g. ${EXT_AUTHZ_PREFIX}/api/v1/projects`);
    }
    if (!METHOD.safeParse(req.method).success) return sendError(res, 400, "invalid_request", "the method must be letters only");
    answer(res, await decide("ext_authz", { method: req.method, path: target, authorization: req.get("authorization") ?? null }, req));
  };
  router.all(`${EXT_AUTHZ_PREFIX}{/*target}`, extAuthz);
  // The router percent-decodes the target parameter while matching and fails on a malformed
  // escape; the policy judges the raw target, so that target is decided like any other.
  const undecodable: ErrorRequestHandler = (err, req, res, next) => (err instanceof URIError ? extAuthz(req, res, next) : next(err));
  router.use(EXT_AUTHZ_PREFIX, undecodable);

  return router;
}
