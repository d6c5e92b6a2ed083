import { timingSafeEqual } from "node:crypto";
import express, { type RequestHandler, type Response, Router } from "express";
import { ADMIN_REALM, type BadTokenReason, type ErrorReply, writeError } from "../api/error-writer.js";
import { adminChange, adminChangeRecord, adminRefusalRecord, NO_ACTOR, type AdminActor, type AdminChange } from "../audit/admin.js";
import type { AuditSink } from "../audit/types.js";
import { CLIENT_ADDRESS_MAX, stripQuery } from "../audit/validate.js";
import type { CredentialResolver } from "../auth/credentials.js";
import { ERRORS } from "../errors.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import { TokenIssuer, viewToken } from "../issuing/token-issuer.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { RateLimiter, RateLimitResult } from "../stores/types.js";
import { collaboratorBody, collaboratorParams, projectBody, projectParams, tokenBody, userBody, userParams } from "./admin-schemas.js";
import { clientAddress, type TrustedProxies } from "./client-address.js";
import { requireJson } from "./errors.js";

/** How the admin guard refuses a request. */
type AdminRefusal = "missing_token" | BadTokenReason | "insufficient_role" | "rate_limited";

/** Failed admin authentications admitted per client address and window; then 429. */
const ADMIN_AUTH_FAILURE_LIMIT = 10;
const ADMIN_AUTH_FAILURE_WINDOW_MS = 60_000;

export interface AdminDeps {
  engine: PolicyEngine;
  credentials: CredentialResolver;
  facts: CachedFacts;
  issuer: TokenIssuer;
  adminToken: string | null;
  maxBodyBytes: number;
  audit: AuditSink;
  /** Counts failed admin authentications per client address (Redis, or memory in development). */
  rateLimiter: RateLimiter;
  trustedProxies: TrustedProxies;
  logger: Logger;
  metrics: Pick<Metrics, "adminAuthFailed">;
}

/** What adminOnly learnt about the request, for the audit record of the change. */
interface AdminLocals {
  actor: AdminActor;
  clientAddress: string;
  time: Date;
  started: bigint;
}

/** Tollgate's own admin API: users, projects, collaborators and tokens. Every change is audited. */
export function adminRoutes(deps: AdminDeps): Router {
  const router = Router();
  const { facts, issuer } = deps;
  const json = [requireJson(), express.json({ limit: deps.maxBodyBytes, strict: true })];
  router.use("/v1/admin", adminOnly(deps));
  const audit = (res: Response, change: AdminChange): void => {
    const locals = res.locals.admin as AdminLocals;
    deps.audit.record(
      adminChangeRecord("admin", change, {
        actor: locals.actor,
        client_address: locals.clientAddress,
        time: locals.time,
        latency_ms: Number(process.hrtime.bigint() - locals.started) / 1e6,
      }),
    );
  };

  router.put("/v1/admin/users/:id", ...json, async (req, res) => {
    const { id } = userParams.parse(req.params);
    const { role } = userBody.parse(req.body);
    await facts.directoryStore.putUser({ id, system_role: role });
    audit(res, adminChange.userRoleSet(id));
    res.json({ id, system_role: role });
  });

  router.put("/v1/admin/projects/:id", ...json, async (req, res) => {
    const { id } = projectParams.parse(req.params);
    const body = projectBody.parse(req.body);
    const existing = await facts.directoryStore.getProject(id);
    const project = { id, name: body.name ?? existing?.name ?? id, public: body.public };
    await facts.directoryStore.putProject(project);
    const change = adminChange.projectPut(id, !existing);
    audit(res, change);
    res.status(change.status).json(project);
  });

  router.put("/v1/admin/projects/:id/collaborators/:user", ...json, async (req, res) => {
    const { id: projectId, user: userId } = collaboratorParams.parse(req.params);
    const { role } = collaboratorBody.parse(req.body);
    await facts.directoryStore.setCollaborator(projectId, userId, role);
    audit(res, adminChange.collaboratorSet(projectId, userId));
    res.json({ project_id: projectId, user_id: userId, role });
  });

  router.delete("/v1/admin/projects/:id/collaborators/:user", async (req, res) => {
    const { id: projectId, user: userId } = collaboratorParams.parse(req.params);
    const removed = await facts.directoryStore.removeCollaborator(projectId, userId);
    if (!removed) return writeError(res, { code: "not_found", message: `${userId} is not a collaborator of ${projectId}` });
    audit(res, adminChange.collaboratorRemove(projectId, userId));
    res.status(204).end();
  });

  router.post("/v1/admin/tokens", ...json, async (req, res) => {
    const { token, record } = await issuer.issueForOperator(tokenBody.parse(req.body));
    audit(res, adminChange.tokenIssue(record.id));
    res.status(201).json({ ...viewToken(record), token });
  });

  router.get("/v1/admin/tokens/:id", async (req, res) => {
    const record = await facts.tokenStore.get(req.params.id);
    if (!record) return writeError(res, { code: "not_found", message: "no such token" });
    res.json(viewToken(record));
  });

  router.delete("/v1/admin/tokens/:id", async (req, res) => {
    const record = await issuer.revoke(req.params.id);
    if (!record) return writeError(res, { code: "not_found", message: "no such token" });
    audit(res, adminChange.tokenRevoke(record.id));
    res.json(viewToken(record));
  });

  return router;
}

/**
 * The operator's admin token or an admin user's session; the policy decides which counts.
 * Failures are counted per client address; once ADMIN_AUTH_FAILURE_LIMIT are in the window every
 * request from that address is refused (429), a correct credential included, so guessing gains
 * nothing. A refusal is charged to the limiter as it happens (one atomic hit: of N concurrent
 * bad guesses exactly the limit get their 401/403, the rest 429); an accepted credential is only
 * checked against it, never charged. Each failure is logged (never the credential), counted and
 * audited. When the limiter cannot answer, the request fails closed (503 backend_unavailable).
 */
function adminOnly(deps: AdminDeps): RequestHandler {
  const expected = deps.adminToken ? Buffer.from(deps.adminToken) : null;
  return async (req, res, next) => {
    const started = process.hrtime.bigint();
    const time = new Date();
    const address = clientAddress(req, deps.trustedProxies);
    const limiterKey = `admin_auth:${address.slice(0, CLIENT_ADDRESS_MAX)}`;
    const hit = (consume: boolean) => deps.rateLimiter.hit(limiterKey, ADMIN_AUTH_FAILURE_LIMIT, ADMIN_AUTH_FAILURE_WINDOW_MS, { consume });
    const refuse = (reply: ErrorReply & { code: AdminRefusal }, actor: AdminActor): void => {
      const { code } = reply;
      const { status } = ERRORS[code];
      deps.metrics.adminAuthFailed(code);
      deps.logger.warn({ client_address: address, method: req.method, path: stripQuery(req.originalUrl), reason: code }, "admin authentication failed");
      deps.audit.record(
        adminRefusalRecord({ method: req.method, path: req.originalUrl }, status, code, {
          actor,
          client_address: address,
          time,
          latency_ms: Number(process.hrtime.bigint() - started) / 1e6,
        }),
      );
      writeError(res, reply);
    };
    const overLimit = (limit: RateLimitResult): void => {
      refuse({ code: "rate_limited", message: "too many failed admin authentications from this address; try again later", retryAfterS: limit.reset_ms / 1000 }, NO_ACTOR);
    };

    const header = req.get("authorization");
    const bearer = header ? /^\s*bearer +(\S+)\s*$/i.exec(header)?.[1] : undefined;
    const adminToken = expected !== null && bearer !== undefined && safeEqual(Buffer.from(bearer), expected);
    const credential = adminToken ? { status: "none" as const } : await deps.credentials.resolve(header ?? null);
    const allowed = deps.engine.adminAllowed({
      admin_token: adminToken,
      credential: { status: credential.status },
      ...(credential.status === "valid" ? { subject: credential.subject } : {}),
    });
    const subject = credential.status === "valid" ? credential.subject : null;
    const actor: AdminActor = adminToken
      ? { subject_type: "admin_token", user_id: null, token_id: null }
      : subject
        ? { subject_type: subject.type, user_id: "user_id" in subject ? subject.user_id : null, token_id: "token_id" in subject ? subject.token_id : null }
        : NO_ACTOR;

    if (allowed) {
      const limit = await hit(false);
      if (!limit.allowed) return overLimit(limit);
      res.locals.admin = { actor, clientAddress: address, time, started } satisfies AdminLocals;
      return next();
    }
    const limit = await hit(true);
    if (!limit.allowed) return overLimit(limit);
    if (!header) {
      const message = "the admin API needs TOLLGATE_ADMIN_TOKEN or an admin user's session";
      return refuse({ code: "missing_token", message, challenge: { realm: ADMIN_REALM, says: { error: null } } }, actor);
    }
    if (credential.status !== "valid") {
      const reason: BadTokenReason = `${credential.status === "none" ? "invalid" : credential.status}_token`;
      return refuse({ code: reason, message: "the credential is not valid", challenge: { realm: ADMIN_REALM, says: { error: "invalid_token", reason } } }, actor);
    }
    return refuse({ code: "insufficient_role", message: "the admin API takes TOLLGATE_ADMIN_TOKEN or the session of a user with system role admin" }, actor);
  };
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
