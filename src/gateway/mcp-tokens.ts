import express, { Router, type Response } from "express";
import { z } from "zod";
import type { AuditStore } from "../audit/types.js";
import { ID, TIMESTAMP } from "../http/admin-schemas.js";
import { tokenAuditView } from "../http/audit-routes.js";
import { requireJson } from "../http/errors.js";
import { type McpTokenService, sessionUser } from "../issuing/mcp-tokens.js";
import { viewToken } from "../issuing/token-issuer.js";
import { gatewayLocals } from "./gateway.js";

const grants = z
  .array(z.object({ project_id: ID, expires_at: TIMESTAMP.nullable().optional(), allow_trigger: z.boolean().optional() }).strict())
  .max(100);
const createBody = z.object({ name: z.string().min(1).max(100), grants, expires_at: TIMESTAMP.nullable().optional() }).strict();
const patchBody = z.object({ name: z.string().min(1).max(100).optional(), grants: grants.optional() }).strict();
const exchangeBody = createBody.extend({ temp_token: z.string().min(1).max(200) }).strict();

export interface McpTokenRoutesDeps {
  service: McpTokenService;
  audit: AuditStore;
  maxBodyBytes: number;
}

/**
 * MCP token self-service under /api/v1/mcp/tokens, translated for McpTokenService. The gateway
 * has already let the request through the policy (sessions only, and anyone for the exchange);
 * the service acts for the session's user, on that user's MCP tokens only.
 */
export function mcpTokenRoutes({ service, audit, maxBodyBytes }: McpTokenRoutesDeps): Router {
  const router = Router();
  const json = [requireJson(), express.json({ limit: maxBodyBytes, strict: true })];
  const userOf = (res: Response): string => sessionUser(gatewayLocals(res)?.decision.subject ?? null);

  router.get("/v1/mcp/tokens", async (_req, res) => {
    res.json({ tokens: (await service.list(userOf(res))).map(viewToken) });
  });

  router.post("/v1/mcp/tokens", ...json, async (req, res) => {
    const body = createBody.parse(req.body);
    const { token, record } = await service.create(userOf(res), body);
    res.status(201).json({ ...viewToken(record), token });
  });

  router.post("/v1/mcp/tokens/temp", async (_req, res) => {
    const issued = await service.issueTempToken(userOf(res));
    res.status(201).json({ temp_token: issued.temp_token, expires_at: issued.expires_at.toISOString() });
  });

  router.post("/v1/mcp/tokens/exchange", ...json, async (req, res) => {
    const { temp_token, ...request } = exchangeBody.parse(req.body);
    const { token, record } = await service.exchange(temp_token, request);
    res.status(201).json({ ...viewToken(record), token });
  });

  router.get("/v1/mcp/tokens/:id", async (req, res) => {
    res.json(viewToken(await service.get(userOf(res), String(req.params.id))));
  });

  router.patch("/v1/mcp/tokens/:id", ...json, async (req, res) => {
    const body = patchBody.parse(req.body);
    res.json(viewToken(await service.update(userOf(res), String(req.params.id), body)));
  });

  router.delete("/v1/mcp/tokens/:id", async (req, res) => {
    res.json(viewToken(await service.revoke(userOf(res), String(req.params.id))));
  });

  router.get("/v1/mcp/tokens/:id/audit", async (req, res) => {
    const record = await service.get(userOf(res), String(req.params.id));
    res.json(await tokenAuditView(audit, record.id, req.query));
  });

  return router;
}
