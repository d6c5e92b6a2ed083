// Writes the audit records of the browser pages (src/audit/ui.ts): who did what from which
// client, with what answer. Best effort, as every audit write: the sink never throws.
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { RequestHandler } from "express";
import { uiActionRecord, type UiAction } from "../audit/ui.js";
import type { AuditSink } from "../audit/types.js";
import { clientAddress, type TrustedProxies } from "../http/client-address.js";
import { McpTokenService, type McpTokenRequest, type McpTokenServiceDeps } from "../issuing/mcp-tokens.js";
import type { IssuedToken } from "../issuing/token-issuer.js";
import type { TokenRecord } from "../stores/types.js";

export interface UiAuditDeps {
  sink: AuditSink;
  trustedProxies: TrustedProxies;
  clock?: () => Date;
}

/** What an action was, beyond who asked and how it was answered. */
export interface UiActionDone {
  userId: string;
  target: string | null;
}

export class UiAudit {
  readonly #deps: UiAuditDeps;
  readonly #clock: () => Date;

  constructor(deps: UiAuditDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /**
   * Records `action` once the answer to `req` has gone out (its status is the record's); nothing
   * when the client went away first. `started`: performance.now() when the request arrived.
   */
  recordWhenAnswered(req: IncomingMessage, res: ServerResponse, started: number, action: UiAction, done: UiActionDone): void {
    const time = this.#clock();
    // Read now: once the client has gone its address is too.
    const address = clientAddress(req, this.#deps.trustedProxies) || null;
    res.once("finish", () => {
      const path = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/";
      this.#deps.sink.record(
        uiActionRecord(action, {
          user_id: done.userId,
          target: done.target,
          method: req.method ?? "",
          path,
          route: routeOf(req, path),
          status: res.statusCode,
          client_address: address,
          user_agent: req.headers["user-agent"] ?? null,
          time,
          latency_ms: performance.now() - started,
        }),
      );
    });
  }
}

/** The Express route the request matched (its pattern), else its path without the query. */
function routeOf(req: IncomingMessage, path: string): string {
  const pattern = (req as { route?: { path?: unknown } }).route?.path;
  return typeof pattern === "string" ? pattern : path.split("?")[0]!;
}

/** The page request an issuing call is made for: the tokens page calls the service without it in hand. */
const pageRequest = new AsyncLocalStorage<{ req: IncomingMessage; res: ServerResponse; started: number }>();

/** Makes each page request known to PageAuditedMcpTokenService (mounted before the tokens page). */
export function pageRequestScope(): RequestHandler {
  return (req, res, next) => pageRequest.run({ req, res, started: performance.now() }, next);
}

/**
 * The issuing service as the tokens page uses it: the same service, and each token created or
 * revoked from a page recorded with source "ui" (the API's calls are the gateway's records).
 */
export class PageAuditedMcpTokenService extends McpTokenService {
  readonly #audit: UiAudit;

  constructor(deps: McpTokenServiceDeps, audit: UiAudit) {
    super(deps);
    this.#audit = audit;
  }

  override async create(userId: string, request: McpTokenRequest): Promise<IssuedToken> {
    const issued = await super.create(userId, request);
    this.#record("token.issue", userId, issued.record.id);
    return issued;
  }

  override async revoke(userId: string, id: string): Promise<TokenRecord> {
    const record = await super.revoke(userId, id);
    this.#record("token.revoke", userId, record.id);
    return record;
  }

  #record(action: UiAction, userId: string, tokenId: string): void {
    const page = pageRequest.getStore();
    if (page) this.#audit.recordWhenAnswered(page.req, page.res, page.started, action, { userId, target: `token:${tokenId}` });
  }
}
