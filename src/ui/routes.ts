import { Router } from "express";
import type { AuditStore } from "../audit/types.js";
import type { Config } from "../config/config.js";
import type { UpstreamConfig } from "../config/upstreams.js";
import type { Logger } from "../log.js";
import type { BrowserSessionStore, DirectoryStore, RateLimiter } from "../stores/types.js";
import type { UpstreamConnector } from "../upstreams/connect.js";
import type { UpstreamTokenStore } from "../upstreams/user-tokens.js";
import { assetRoutes } from "./assets.js";
import { StoredBrowserSessions } from "./browser-sessions.js";
import { OidcSignIn } from "./oidc.js";
import { signInRoutes } from "./sign-in.js";
import { tokensPage } from "./tokens-page.js";
import { upstreamConnectRoutes } from "./upstream-connect.js";
import { pageRequestScope, type PageAuditedMcpTokenService, type UiAudit } from "./ui-audit.js";

export interface UiDeps {
  config: Pick<Config, "env" | "oidc" | "publicUrl" | "uiSessionTtlS" | "uiSignInsPerMinute" | "maxBodyBytes" | "trustedProxies">;
  store: BrowserSessionStore;
  /** The issuing service, recording what the pages do (ui-audit.ts). */
  service: PageAuditedMcpTokenService;
  directory: Pick<DirectoryStore, "listProjectsOf">;
  audit: AuditStore;
  /** The pages' own audit records (source "ui"). */
  uiAudit: UiAudit;
  /** The shared rate limiter (sign-ins per client address). */
  rateLimiter: RateLimiter;
  /** With `oauth` upstreams: their connect routes, and their section on the tokens page; null without. */
  upstreamOAuth: { connector: UpstreamConnector; upstreams: readonly UpstreamConfig[]; tokens: Pick<UpstreamTokenStore, "listByUser"> } | null;
  logger: Logger;
  clock?: () => Date;
}

export interface Ui {
  /** /ui/…, /oauth/callback and /oauth/upstream/…. */
  routes: Router;
  /** Who is signed in (the consent page asks). */
  sessions: StoredBrowserSessions;
}

/** The browser side: sign-in, sessions, the tokens page and the upstream connect routes (server-rendered, no build step). */
export function browserUi({ config, store, service, directory, audit, uiAudit, rateLimiter, upstreamOAuth, logger, clock }: UiDeps): Ui {
  const production = config.env === "production";
  const sessions = new StoredBrowserSessions({ store, ttlS: config.uiSessionTtlS, production, ...(clock ? { clock } : {}) });
  // Config validation makes TOLLGATE_PUBLIC_URL present whenever TOLLGATE_OIDC_* is.
  const oidc = config.oidc && config.publicUrl ? new OidcSignIn({ ...config.oidc, redirectUri: new URL("/oauth/callback", config.publicUrl).href }) : null;
  const routes = Router();
  routes.use(assetRoutes());
  const signIns = { limiter: rateLimiter, perMinute: config.uiSignInsPerMinute, trustedProxies: config.trustedProxies.trust };
  routes.use(signInRoutes({ sessions, oidc, production, maxBodyBytes: config.maxBodyBytes, logger, signIns, audit: uiAudit }));
  // The tokens page's issuing calls are recorded for the page request they are made for.
  routes.use(pageRequestScope());
  const connections = upstreamOAuth ? { upstreams: upstreamOAuth.upstreams.map((u) => u.name), store: upstreamOAuth.tokens } : null;
  routes.use(tokensPage({ sessions, service, directory, audit, connections, maxBodyBytes: config.maxBodyBytes, logger, ...(clock ? { clock } : {}) }));
  if (upstreamOAuth) routes.use(upstreamConnectRoutes({ sessions, connector: upstreamOAuth.connector, upstreams: upstreamOAuth.upstreams, maxBodyBytes: config.maxBodyBytes, logger }));
  return { routes, sessions };
}
