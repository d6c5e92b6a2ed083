import type { Config } from "../config/config.js";
import type { Logger } from "../log.js";
import { MemoryDcrCredentialStore } from "../stores/memory/dcr-credential-store.js";
import { MemoryUpstreamTokenStore } from "../stores/memory/upstream-token-store.js";
import { connectedUpstreams, UpstreamConnector } from "../upstreams/connect.js";
import type { UpstreamCredentials } from "../gateway/upstream-credentials.js";
import { UpstreamAuthDiscovery } from "../upstreams/discovery.js";
import { MemoryLocks } from "../upstreams/locks.js";
import { UpstreamRegistrar } from "../upstreams/registration.js";
import type { UpstreamConfig } from "../config/upstreams.js";
import type { UpstreamTokenStore } from "../upstreams/user-tokens.js";
import type { Backends } from "./backends.js";

export interface UpstreamOAuth {
  connector: UpstreamConnector;
  /** The gateway's seam: each user's upstream token. */
  credentials: UpstreamCredentials;
  /** The `oauth` upstreams of TOLLGATE_UPSTREAMS (the browser's connect routes and the tokens page list them). */
  upstreams: readonly UpstreamConfig[];
  /** The users' upstream tokens (the tokens page shows who is connected where). */
  tokens: UpstreamTokenStore;
}

/**
 * Tollgate as an OAuth client of its `oauth` upstreams (docs/upstreams.md): discovery, one shared
 * registration per authorization server, the users' connections. Null when no upstream uses oauth
 * (config requires TOLLGATE_PUBLIC_URL when one does).
 */
export function buildUpstreamOAuth(config: Pick<Config, "upstreams" | "publicUrl" | "env">, backends: Backends, logger: Logger): UpstreamOAuth | null {
  const upstreams = config.upstreams.filter((u) => u.auth === "oauth");
  if (upstreams.length === 0 || config.publicUrl === null) return null;
  // Shared by every replica with Redis and encryption keys; otherwise this process's own.
  const shared = backends.upstreamOAuth ?? { dcr: new MemoryDcrCredentialStore(), locks: new MemoryLocks() };
  const registrar = new UpstreamRegistrar({
    store: shared.dcr,
    locks: shared.locks,
    clientName: "Tollgate",
    // Users connected under the old client find out at their next refresh (it is not tried under the new one): they reconnect.
    onReregistered: async ({ key, previousClientId, clientId }) =>
      logger.warn({ issuer: key.issuer, previous_client_id: previousClientId, client_id: clientId }, "registered anew at an upstream's authorization server (it offers no client management): its users reconnect"),
  });
  const tokens = backends.upstreamTokens ?? new MemoryUpstreamTokenStore();
  const connector = new UpstreamConnector({ discovery: new UpstreamAuthDiscovery({ plainLoopback: config.env !== "production" }), registrar, tokens, locks: shared.locks, publicUrl: config.publicUrl });
  return { connector, credentials: connectedUpstreams(connector, config.publicUrl), upstreams, tokens };
}
