import type { UpstreamConfig } from "../config/upstreams.js";

// The seam between the gateway and the OAuth client side of Tollgate (issue 12 §3): for a user
// and an `oauth` upstream, the bearer token the gateway attaches when it forwards. How tokens are
// obtained, stored and refreshed lives behind it; the gateway only turns its three answers into
// a forward, a "connect first", or a 503.

/** What the gateway can do for this user at this upstream. */
export type UpstreamCredential =
  /** Forward with `Authorization: Bearer <token>`. */
  | { readonly kind: "token"; readonly token: string }
  /**
   * The user has no (usable) connection: send them to `connectUrl`. `elicitationId` names this
   * request for a connection in an MCP URL elicitation (unique; the connect flow may correlate it).
   */
  | { readonly kind: "not_connected"; readonly connectUrl: string; readonly elicitationId: string }
  /** The upstream's authorization server could not be reached (refresh, discovery): try again later. */
  | { readonly kind: "unavailable" };

export interface UpstreamCredentials {
  /** Never throws for an ordinary outcome; a throw is treated as "unavailable" (fail closed). */
  credentialFor(userId: string, upstream: UpstreamConfig): Promise<UpstreamCredential>;
  /**
   * The upstream answered `token` with 401: the token is no good. The user's stored tokens are
   * forgotten (if they are still those) and the answer is where to connect again ("not_connected").
   * A throw is treated as "unavailable".
   */
  rejected(userId: string, upstream: UpstreamConfig, token: string): Promise<UpstreamCredential>;
}

/**
 * Where a user connects their account at an upstream: a page of Tollgate's, opened in their
 * browser, made for that user (the page refuses a browser signed in as anyone else).
 */
export function upstreamConnectUrl(publicUrl: string, upstreamName: string, userId: string): string {
  return `${publicUrl}/oauth/upstream/${encodeURIComponent(upstreamName)}/connect?user=${encodeURIComponent(userId)}`;
}
