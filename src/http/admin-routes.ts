import { timingSafeEqual } from "node:crypto";
import express, { type RequestHandler, type Response, Router } from "express";
import { ADMIN_REALM, isBadTokenReason, writeError } from "../api/error-writer.js";
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
import type { AdminInput, AdminRefusal } from "../policy/types.js";
import type { RateLimiter } from "../stores/types.js";
import { collaboratorBody, collaboratorParams, projectBody, projectParams, tokenBody, userBody, userParams } from "./admin-schemas.js";
import { clientAddress, limitedClient, type TrustedProxies } from "./client-address.js";
import { requireJson } from "./errors.js";

/** What a refusal of the admin guard tells the caller. */
const REFUSAL_MESSAGES: Record<AdminRefusal | "policy_error", string> = {
  missing_token: "the admin API needs TOLLGATE_ADMIN_TOKEN or an admin user's session",
  invalid_token: "the credential is not valid",
  expired_token: "the credential is not valid",
  revoked_token: "the credential is not valid",
  insufficient_role: "the admin API takes TOLLGATE_ADMIN_TOKEN or the session of a user with system role admin",
  rate_limited: "too many failed admin authentications from this address; try again later",
  policy_error: ERRORS.policy_error.message,
};

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
        user_agent: res.req.headers["user-agent"] ?? null,
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
 * The operator's admin token or an admin user's session: the policy decides
 * (`tollgate/admin/decision`); this gathers its facts and enforces its answer. Failures are
 * counted per client (limitedClient(): an IPv6 client by its /64); once ADMIN_AUTH_FAILURE_LIMIT are in the window the policy
 * refuses every request from that address (429), a correct credential included, so guessing
 * gains nothing. An attempt the policy counts as a failure is charged to the limiter as it
 * happens (one atomic hit: of N concurrent bad guesses exactly the limit get their 401/403, the
 * rest 429); any other is only checked against it, never charged. Each refusal is logged (never
 * the credential), counted and audited. When the limiter cannot answer, the request fails
 * closed (503 backend_unavailable).
 */
function adminOnly(deps: AdminDeps): RequestHandler {
  const expected = deps.adminToken ? Buffer.from(deps.adminToken) : null;
  return async (req, res, next) => {
    const started = process.hrtime.bigint();
    const time = new Date();
    const address = clientAddress(req, deps.trustedProxies);

    const header = req.get("authorization");
    const bearer = header ? /^\s*bearer +(\S+)\s*$/i.exec(header)?.[1] : undefined;
    const adminToken = expected !== null && bearer !== undefined && safeEqual(Buffer.from(bearer), expected);
    const credential = adminToken ? { status: "none" as const } : await deps.credentials.resolve(header ?? null);
    const subject = credential.status === "valid" ? credential.subject : null;
    const facts: AdminInput = {
      admin_token: adminToken,
      authorization: header !== undefined && header !== "",
      credential: { status: credential.status },
      ...(subject ? { subject } : {}),
    };
    const first = deps.engine.adminDecision(facts);
    const limit = await deps.rateLimiter.hit(`admin_auth:${limitedClient(address).slice(0, CLIENT_ADDRESS_MAX)}`, ADMIN_AUTH_FAILURE_LIMIT, ADMIN_AUTH_FAILURE_WINDOW_MS, {
      consume: first.count_failure,
    });
    const decision = limit.allowed ? first : deps.engine.adminDecision({ ...facts, failures: { exceeded: true } });

    const actor: AdminActor = adminToken
      ? { subject_type: "admin_token", user_id: null, token_id: null }
      : subject
        ? { subject_type: subject.type, user_id: "user_id" in subject ? subject.user_id : null, token_id: "token_id" in subject ? subject.token_id : null }
        : NO_ACTOR;
    if (decision.allow) {
      res.locals.admin = { actor, clientAddress: address, time, started } satisfies AdminLocals;
      return next();
    }
    const { status, reason } = decision;
    deps.metrics.adminAuthFailed(reason);
    deps.logger.warn({ client_address: address, method: req.method, path: stripQuery(req.originalUrl), reason }, "admin authentication failed");
    deps.audit.record(
      adminRefusalRecord({ method: req.method, path: req.originalUrl }, status, reason, {
        actor: status === 429 ? NO_ACTOR : actor,
        client_address: address,
        user_agent: req.headers["user-agent"] ?? null,
        time,
        latency_ms: Number(process.hrtime.bigint() - started) / 1e6,
      }),
    );
    writeError(res, {
      code: reason,
      message: REFUSAL_MESSAGES[reason],
      ...(reason === "missing_token" ? { challenge: { realm: ADMIN_REALM, says: { error: null } } } : {}),
      ...(isBadTokenReason(reason) ? { challenge: { realm: ADMIN_REALM, says: { error: "invalid_token", reason } } } : {}),
      ...(status === 429 ? { retryAfterS: limit.reset_ms / 1000 } : {}),
    });
  };
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
