import { Router } from "express";
import type { Config } from "../config/config.js";
import type { Logger } from "../log.js";
import type { StoredBrowserSessions } from "../ui/browser-sessions.js";
import { upstreamConnectRoutes } from "../ui/upstream-connect.js";
import { connectedUpstreams, UpstreamConnector } from "../upstreams/connect.js";
import type { UpstreamCredentials } from "../gateway/upstream-credentials.js";
import { UpstreamAuthDiscovery } from "../upstreams/discovery.js";
import { UpstreamRegistrar } from "../upstreams/registration.js";
import type { Backends } from "./backends.js";

export interface UpstreamOAuth {
  connector: UpstreamConnector;
  /** The gateway's seam: each user's upstream token. */
  credentials: UpstreamCredentials;
  /** /oauth/upstream/{name}/connect, …/callback, …/disconnect. */
  routes: Router;
}

/**
 * Tollgate as an OAuth client of its `oauth` upstreams (docs/upstreams.md): discovery, one shared
 * registration per authorization server, the users' connections. Null when no upstream uses oauth
 * (config requires TOLLGATE_PUBLIC_URL when one does).
 */
export function buildUpstreamOAuth(config: Pick<Config, "upstreams" | "publicUrl" | "maxBodyBytes">, backends: Backends, sessions: StoredBrowserSessions, logger: Logger): UpstreamOAuth | null {
  const upstreams = config.upstreams.filter((u) => u.auth === "oauth");
  if (upstreams.length === 0 || config.publicUrl === null) return null;
  const registrar = new UpstreamRegistrar({
    store: backends.dcrCredentials,
    locks: backends.upstreamLocks,
    clientName: "Tollgate",
    // Users connected under the old client find out at their next refresh (the server refuses the old client's refresh token): they reconnect.
    onReregistered: async ({ key, previousClientId, clientId }) =>
      logger.warn({ issuer: key.issuer, previous_client_id: previousClientId, client_id: clientId }, "registered anew at an upstream's authorization server (it offers no client management): its users reconnect"),
  });
  const connector = new UpstreamConnector({ discovery: new UpstreamAuthDiscovery(), registrar, tokens: backends.upstreamTokens, locks: backends.upstreamLocks, publicUrl: config.publicUrl });
  return { connector, credentials: connectedUpstreams(connector, config.publicUrl), routes: upstreamConnectRoutes({ sessions, connector, upstreams, maxBodyBytes: config.maxBodyBytes, logger }) };
}
