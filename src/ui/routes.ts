import { Router } from "express";
import type { AuditStore } from "../audit/types.js";
import type { Config } from "../config/config.js";
import type { Logger } from "../log.js";
import type { BrowserSessionStore, DirectoryStore, RateLimiter } from "../stores/types.js";
import { assetRoutes } from "./assets.js";
import { StoredBrowserSessions } from "./browser-sessions.js";
import { OidcSignIn } from "./oidc.js";
import { signInRoutes } from "./sign-in.js";
import { tokensPage } from "./tokens-page.js";
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
  logger: Logger;
  clock?: () => Date;
}

export interface Ui {
  /** /ui/… and /oauth/callback. */
  routes: Router;
  /** Who is signed in (the consent page asks). */
  sessions: StoredBrowserSessions;
}

/** The browser side: sign-in, sessions and the tokens page (server-rendered, no build step). */
export function browserUi({ config, store, service, directory, audit, uiAudit, rateLimiter, logger, clock }: UiDeps): Ui {
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
  routes.use(tokensPage({ sessions, service, directory, audit, maxBodyBytes: config.maxBodyBytes, logger, ...(clock ? { clock } : {}) }));
  return { routes, sessions };
}
