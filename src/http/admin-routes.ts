import { timingSafeEqual } from "node:crypto";
import express, { type RequestHandler, Router } from "express";
import type { CredentialResolver } from "../auth/credentials.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import { TokenIssuer, viewToken } from "../issuing/token-issuer.js";
import type { PolicyEngine } from "../policy/engine.js";
import { collaboratorBody, collaboratorParams, projectBody, projectParams, tokenBody, userBody, userParams } from "./admin-schemas.js";
import { type BadTokenReason, bearerChallenge } from "./decision-headers.js";
import { requireJson, sendError } from "./errors.js";

export interface AdminDeps {
  engine: PolicyEngine;
  credentials: CredentialResolver;
  facts: CachedFacts;
  issuer: TokenIssuer;
  adminToken: string | null;
  maxBodyBytes: number;
}

/** Tollgate's own admin API: users, projects, collaborators and tokens. */
export function adminRoutes(deps: AdminDeps): Router {
  const router = Router();
  const { facts, issuer } = deps;
  const json = [requireJson(), express.json({ limit: deps.maxBodyBytes, strict: true })];
  router.use("/v1/admin", adminOnly(deps));

  router.put("/v1/admin/users/:id", ...json, async (req, res) => {
    const { id } = userParams.parse(req.params);
    const { role } = userBody.parse(req.body);
    await facts.directoryStore.putUser({ id, system_role: role });
    facts.invalidateUser(id);
    res.json({ id, system_role: role });
  });

  router.put("/v1/admin/projects/:id", ...json, async (req, res) => {
    const { id } = projectParams.parse(req.params);
    const body = projectBody.parse(req.body);
    const existing = await facts.directoryStore.getProject(id);
    const project = { id, name: body.name ?? existing?.name ?? id, public: body.public };
    await facts.directoryStore.putProject(project);
    facts.invalidateProject(id);
    res.status(existing ? 200 : 201).json(project);
  });

  router.put("/v1/admin/projects/:id/collaborators/:user", ...json, async (req, res) => {
    const { id: projectId, user: userId } = collaboratorParams.parse(req.params);
    const { role } = collaboratorBody.parse(req.body);
    await facts.directoryStore.setCollaborator(projectId, userId, role);
    facts.invalidateCollaborator(projectId, userId);
    res.json({ project_id: projectId, user_id: userId, role });
  });

  router.delete("/v1/admin/projects/:id/collaborators/:user", async (req, res) => {
    const { id: projectId, user: userId } = collaboratorParams.parse(req.params);
    const removed = await facts.directoryStore.removeCollaborator(projectId, userId);
    facts.invalidateCollaborator(projectId, userId);
    if (!removed) return sendError(res, 404, "not_found", `${userId} is not a collaborator of ${projectId}`);
    res.status(204).end();
  });

  router.post("/v1/admin/tokens", ...json, async (req, res) => {
    const { token, record } = await issuer.issueForOperator(tokenBody.parse(req.body));
    res.status(201).json({ ...viewToken(record), token });
  });

  router.get("/v1/admin/tokens/:id", async (req, res) => {
    const record = await facts.tokenStore.get(req.params.id);
    if (!record) return sendError(res, 404, "not_found", "no such token");
    res.json(viewToken(record));
  });

  router.delete("/v1/admin/tokens/:id", async (req, res) => {
    const record = await issuer.revoke(req.params.id);
    if (!record) return sendError(res, 404, "not_found", "no such token");
    res.json(viewToken(record));
  });

  return router;
}

/** The operator's admin token or an admin user's session; the policy decides which counts. */
function adminOnly(deps: AdminDeps): RequestHandler {
  const expected = deps.adminToken ? Buffer.from(deps.adminToken) : null;
  return async (req, res, next) => {
    const header = req.get("authorization");
    const bearer = header ? /^\s*bearer +(\S+)\s*$/i.exec(header)?.[1] : undefined;
    const adminToken = expected !== null && bearer !== undefined && safeEqual(Buffer.from(bearer), expected);
    const credential = adminToken ? { status: "none" as const } : await deps.credentials.resolve(header ?? null);
    const allowed = deps.engine.adminAllowed({
      admin_token: adminToken,
      credential: { status: credential.status },
      ...(credential.status === "valid" ? { subject: credential.subject } : {}),
    });
    if (allowed) return next();
    if (!header) {
      res.set("WWW-Authenticate", bearerChallenge("tollgate-admin", { error: null }));
      return sendError(res, 401, "missing_token", "the admin API needs TOLLGATE_ADMIN_TOKEN or an admin user's session");
    }
    if (credential.status !== "valid") {
      const reason: BadTokenReason = `${credential.status === "none" ? "invalid" : credential.status}_token`;
      res.set("WWW-Authenticate", bearerChallenge("tollgate-admin", { error: "invalid_token", reason }));
      return sendError(res, 401, reason, "the credential is not valid");
    }
    return sendError(res, 403, "insufficient_role", "the admin API takes TOLLGATE_ADMIN_TOKEN or the session of a user with system role admin");
  };
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
