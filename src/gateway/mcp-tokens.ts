import express, { Router, type Response } from "express";
import { z } from "zod";
import type { AuditStore } from "../audit/types.js";
import { RequestError } from "../errors.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import { ID, TIMESTAMP } from "../http/admin-schemas.js";
import { tokenAuditView } from "../http/audit-routes.js";
import { requireJson, sendError } from "../http/errors.js";
import { TokenIssuer, viewToken } from "../issuing/token-issuer.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { CollaboratorRole } from "../policy/types.js";
import type { TempTokenStore, TokenRecord } from "../stores/types.js";
import { generateToken, hashToken, parseToken } from "../tokens/format.js";
import { gatewayLocals } from "./gateway.js";

const TEMP_TOKEN_TTL_MS = 10 * 60 * 1000;
/** Live (unexpired, unexchanged) temp tokens one user may hold. */
const MAX_LIVE_TEMP_TOKENS = 5;
const grants = z
  .array(z.object({ project_id: ID, expires_at: TIMESTAMP.nullable().optional(), allow_trigger: z.boolean().optional() }).strict())
  .max(100);
const createBody = z.object({ name: z.string().min(1).max(100), grants, expires_at: TIMESTAMP.nullable().optional() }).strict();
const patchBody = z.object({ name: z.string().min(1).max(100).optional(), grants: grants.optional() }).strict();
const exchangeBody = createBody.extend({ temp_token: z.string().min(1).max(200) }).strict();

export interface McpTokenDeps {
  engine: PolicyEngine;
  facts: CachedFacts;
  issuer: TokenIssuer;
  tempTokens: TempTokenStore;
  audit: AuditStore;
  maxBodyBytes: number;
  clock?: () => Date;
}

/**
 * MCP token self-service under /api/v1/mcp/tokens. The gateway has already let the request
 * through the policy (sessions only, and anyone for the exchange); these handlers act for the
 * session's user, on that user's MCP tokens only.
 */
export function mcpTokenRoutes(deps: McpTokenDeps): Router {
  const router = Router();
  const clock = deps.clock ?? (() => new Date());
  const json = [requireJson(), express.json({ limit: deps.maxBodyBytes, strict: true })];
  const userOf = (res: Response): string => {
    const decision = gatewayLocals(res)?.decision;
    const userId = decision?.subject?.type === "user" ? decision.subject.user_id : null;
    // The policy admits only sessions here; anything else is a wiring error, refused.
    if (!userId) throw new RequestError(403, "token_not_allowed_on_path", "MCP tokens are managed with a user session");
    return userId;
  };
  const ownToken = async (res: Response, id: string): Promise<TokenRecord | null> => {
    const record = await deps.facts.tokenStore.get(id);
    return record && record.kind === "mcp" && record.user_id === userOf(res) ? record : null;
  };

  router.get("/v1/mcp/tokens", async (_req, res) => {
    const records = await deps.facts.tokenStore.listByUser(userOf(res));
    res.json({ tokens: records.filter((r) => r.kind === "mcp").map(viewToken) });
  });

  router.post("/v1/mcp/tokens", ...json, async (req, res) => {
    const body = createBody.parse(req.body);
    const userId = userOf(res);
    await checkGrants(deps, userId, body.grants);
    const { token, record } = await deps.issuer.issue({ type: "mcp", user_id: userId, name: body.name, grants: body.grants, expires_at: body.expires_at ?? null });
    res.status(201).json({ ...viewToken(record), token });
  });

  router.post("/v1/mcp/tokens/temp", async (_req, res) => {
    const userId = userOf(res);
    const { value, hash } = generateToken("temp");
    const now = clock();
    const expiresAt = new Date(now.getTime() + TEMP_TOKEN_TTL_MS);
    const creation = await deps.tempTokens.create({ hash, user_id: userId, expires_at: expiresAt }, { now, maxLive: MAX_LIVE_TEMP_TOKENS });
    if (!creation.created) {
      res.set("Retry-After", String(Math.max(1, Math.ceil((creation.oldest_expires_at.getTime() - now.getTime()) / 1000))));
      return sendError(res, 429, "rate_limited", `at most ${MAX_LIVE_TEMP_TOKENS} temp tokens may be live at once: exchange one, or wait until the oldest expires`);
    }
    res.status(201).json({ temp_token: value, expires_at: expiresAt.toISOString() });
  });

  // Everything that can refuse the exchange is checked before the temp token is consumed, so a
  // refused exchange leaves it usable; the consume is the one atomic step, then the token is stored.
  router.post("/v1/mcp/tokens/exchange", ...json, async (req, res) => {
    const body = exchangeBody.parse(req.body);
    if (parseToken(body.temp_token)?.kind !== "temp") {
      return sendError(res, 400, "invalid_request", "temp_token: not a temp token", "temp_token");
    }
    const hash = hashToken(body.temp_token);
    const owner = await deps.tempTokens.peek(hash, clock());
    if (!owner) return unknownTempToken(res);
    await checkGrants(deps, owner.user_id, body.grants);
    const prepared = await deps.issuer.prepare({ type: "mcp", user_id: owner.user_id, name: body.name, grants: body.grants, expires_at: body.expires_at ?? null });
    if (!(await deps.tempTokens.consume(hash, clock()))) return unknownTempToken(res);
    await deps.issuer.store(prepared);
    res.status(201).json({ ...viewToken(prepared.record), token: prepared.token });
  });

  router.get("/v1/mcp/tokens/:id", async (req, res) => {
    const record = await ownToken(res, String(req.params.id));
    if (!record) return sendError(res, 404, "not_found", "no such MCP token");
    res.json(viewToken(record));
  });

  router.patch("/v1/mcp/tokens/:id", ...json, async (req, res) => {
    const body = patchBody.parse(req.body);
    const record = await ownToken(res, String(req.params.id));
    if (!record) return sendError(res, 404, "not_found", "no such MCP token");
    if (body.grants) await checkGrants(deps, record.user_id!, body.grants);
    const updated = await deps.issuer.update(record.id, body);
    if (!updated) return sendError(res, 404, "not_found", "no such MCP token");
    res.json(viewToken(updated));
  });

  router.delete("/v1/mcp/tokens/:id", async (req, res) => {
    const record = await ownToken(res, String(req.params.id));
    if (!record) return sendError(res, 404, "not_found", "no such MCP token");
    const revoked = await deps.issuer.revoke(record.id);
    res.json(viewToken(revoked ?? record));
  });

  router.get("/v1/mcp/tokens/:id/audit", async (req, res) => {
    const record = await ownToken(res, String(req.params.id));
    if (!record) return sendError(res, 404, "not_found", "no such MCP token");
    res.json(await tokenAuditView(deps.audit, record.id, req.query));
  });

  return router;
}

function unknownTempToken(res: Response): void {
  sendError(res, 401, "invalid_token", "temp_token is unknown, already used or expired", "temp_token");
}

/** The policy's grant rules, applied to the user's current roles; 403 naming the first refused grant. */
async function checkGrants(deps: McpTokenDeps, userId: string, requested: z.infer<typeof grants>): Promise<void> {
  const projects = [...new Set(requested.map((g) => g.project_id))];
  const user = await deps.facts.user(userId);
  const roles = await Promise.all(projects.map(async (p) => ((await deps.facts.project(p)) ? deps.facts.collaboratorRole(p, userId) : null)));
  const violations = deps.engine.grantViolations({
    system_role: user?.system_role ?? "user",
    roles: Object.fromEntries(projects.map((p, i): [string, CollaboratorRole | null] => [p, roles[i] ?? null])),
    grants: requested.map((g) => ({ project_id: g.project_id, allow_trigger: g.allow_trigger ?? false })),
  });
  const first = violations[0];
  if (first) {
    const message = first.reason === "not_collaborator" ? "you do not collaborate on this project" : "allow_trigger needs Developer or above";
    throw new RequestError(403, first.reason, `${first.field}: ${message}`, first.field);
  }
}
