import { Router } from "express";
import type { AuditStore } from "../audit/types.js";
import type { Config } from "../config/config.js";
import type { McpTokenService } from "../issuing/mcp-tokens.js";
import type { Logger } from "../log.js";
import type { BrowserSessionStore, DirectoryStore } from "../stores/types.js";
import { assetRoutes } from "./assets.js";
import { StoredBrowserSessions } from "./browser-sessions.js";
import { OidcSignIn } from "./oidc.js";
import { signInRoutes } from "./sign-in.js";
import { tokensPage } from "./tokens-page.js";

export interface UiDeps {
  config: Pick<Config, "env" | "oidc" | "publicUrl" | "uiSessionTtlS" | "maxBodyBytes">;
  store: BrowserSessionStore;
  service: McpTokenService;
  directory: Pick<DirectoryStore, "listProjectsOf">;
  audit: AuditStore;
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
export function browserUi({ config, store, service, directory, audit, logger, clock }: UiDeps): Ui {
  const production = config.env === "production";
  const sessions = new StoredBrowserSessions({ store, ttlS: config.uiSessionTtlS, production, ...(clock ? { clock } : {}) });
  // Config validation makes TOLLGATE_PUBLIC_URL present whenever TOLLGATE_OIDC_* is.
  const oidc = config.oidc && config.publicUrl ? new OidcSignIn({ ...config.oidc, redirectUri: new URL("/oauth/callback", config.publicUrl).href }) : null;
  const routes = Router();
  routes.use(assetRoutes());
  routes.use(signInRoutes({ sessions, oidc, production, maxBodyBytes: config.maxBodyBytes, logger }));
  routes.use(tokensPage({ sessions, service, directory, audit, maxBodyBytes: config.maxBodyBytes, logger, ...(clock ? { clock } : {}) }));
  return { routes, sessions };
}
