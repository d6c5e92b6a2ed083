import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { IdentityHeaders } from "../decision/identity.js";

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

// Headers by which frameworks take the method, the path or the client from a header instead of
// the request: the upstream must act on the request the policy judged, for the client Tollgate saw.
// (A request with a method-override header, X-HTTP-Method-Override and the like, never gets
// here: it is refused, src/http/method-override.ts.)
const REQUEST_REWRITING = new Set([
  "x-original-method",
  "x-original-url",
  "x-original-uri",
  "x-rewrite-url",
  "x-forwarded-method",
  "x-forwarded-uri",
  "forwarded",
  "x-real-ip",
  // Other spellings of the client's address (Rails reads Client-IP; CDNs set their own), of the
  // host, and of the path (Envoy's), all of which some framework takes at its word.
  "client-ip",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "cf-connecting-ip",
  "fastly-client-ip",
  "x-originating-ip",
  "x-remote-ip",
  "x-remote-addr",
  "x-original-host",
  "x-host",
  "x-envoy-original-path",
  // CGI turns `Proxy` into HTTP_PROXY, which HTTP clients in the upstream obey (httpoxy).
  "proxy",
]);

// Headers by which other authenticating proxies tell their upstream who the user is (Authelia,
// oauth2-proxy, Grafana's auth proxy, Kong, AWS ALB, Azure App Service, Google IAP, and the
// usual plain names): an upstream that once sat behind one may still believe them. Only
// Tollgate's X-Tollgate-* say who the caller is; these never pass, not even from a trusted proxy.
const IDENTITY_NAMES = new Set([
  "x-remote-user",
  "x-forwarded-user",
  "x-forwarded-email",
  "x-forwarded-groups",
  "x-forwarded-preferred-username",
  "x-forwarded-access-token",
  "x-authenticated-user",
  "x-authenticated-userid",
  "x-authenticated-groups",
  "x-authenticated-scope",
  "x-credential-identifier",
  "x-anonymous-consumer",
  "x-user",
  "x-user-id",
  "x-username",
  "x-email",
]);
const IDENTITY_PREFIXES = ["remote-", "x-auth-request-", "x-webauth-", "x-consumer-", "x-amzn-oidc-", "x-ms-client-principal", "x-goog-authenticated-", "x-goog-iap-"];

const claimsIdentity = (name: string): boolean => IDENTITY_NAMES.has(name) || IDENTITY_PREFIXES.some((prefix) => name.startsWith(prefix));

/** The socket's peer, and whether it is one of TOLLGATE_TRUSTED_PROXIES. */
export interface Peer {
  address: string | undefined;
  trusted: boolean;
}

const NONE: ReadonlySet<string> = new Set();

function connectionTokens(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const value = headers.connection;
  if (value === undefined) return NONE;
  return new Set((Array.isArray(value) ? value.join(",") : value).split(",").map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/**
 * Request fields Tollgate reads to judge a request and forwards as they are: the body's type and
 * coding (an MCP message), the MCP session and revision, Mcp-Method and Mcp-Name.
 */
const JUDGED_FIELDS: ReadonlySet<string> = new Set(["content-type", "content-encoding", "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name"]);

/**
 * The first field a request's Connection header names that Tollgate judges the request by
 * (`Connection: Mcp-Session-Id`, `Connection: Content-Type`); null when there is none. A field
 * named in Connection is dropped on the way to the upstream (as any hop-by-hop field is), so
 * the upstream would act on a request without what was judged (a session checked, a content
 * type read): refused instead. Other fields a client names there are dropped as RFC 9110 says.
 */
export function connectionDropsJudgedField(headers: IncomingHttpHeaders): string | null {
  for (const token of connectionTokens(headers)) if (JUDGED_FIELDS.has(token)) return token;
  return null;
}

// Set below from what Tollgate saw, never copied from the client as they are.
const FRAMING_AND_FORWARDED = new Set(["content-length", "transfer-encoding", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);

// Methods node:http sends without a body unless told otherwise; the others get Content-Length: 0
// when the client sent no body.
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/**
 * Tollgate's own cookies, which a browser sends to every path of Tollgate's origin, the gateway's
 * included: the browser session and every pending flow (src/ui: `tollgate_session`,
 * `tollgate_sign_in`, `tollgate_upstream_connect`, each also with the `__Host-` prefix; every
 * cookie Tollgate names starts with `tollgate_`), and oidc-provider's (its default names
 * `_session`, `_interaction`, `_interaction_resume`, with their `.sig` and `.legacy` companions).
 * They are Tollgate's credentials, never an upstream's: compared case-insensitively, in case an
 * upstream reads names that way.
 */
const TOLLGATE_COOKIE = /^(?:__host-)?tollgate_|^_(?:session|interaction|interaction_resume)(?:\.sig|\.legacy|\.legacy\.sig)?$/i;

/** A Cookie header without Tollgate's own cookies; null when nothing else is left. */
function withoutTollgateCookies(value: string): string | null {
  const kept = value
    .split(";")
    .map((pair) => pair.trim())
    .filter((pair) => pair !== "" && !TOLLGATE_COOKIE.test(pair.split("=", 1)[0]!.trim()));
  return kept.length ? kept.join("; ") : null;
}

/** Whether a client's header may reach the upstream as it is. */
function forwardable(name: string, connectionNamed: ReadonlySet<string>, peer: Peer): boolean {
  if (HOP_BY_HOP.has(name) || connectionNamed.has(name) || REQUEST_REWRITING.has(name)) return false;
  if (name === "authorization" || name === "host") return false;
  // CGI, WSGI and Rack read `X_Tollgate_User` as `X-Tollgate-User`: no underscore name passes,
  // which covers every spelling of Tollgate's own names but the one checked next.
  if (name.includes("_") || name.startsWith("x-tollgate-") || claimsIdentity(name)) return false;
  // Only a trusted proxy may say where the request came from (For/Host/Proto are set below).
  if (name.startsWith("x-forwarded-")) return peer.trusted;
  return true;
}

/**
 * The request headers the upstream sees, as one flat list of name/value pairs built in one pass
 * (node:http writes such a list as it is): Tollgate's identity headers first, the upstream's own
 * Host, the client's headers minus hop-by-hop ones, its credential (Tollgate's own cookies
 * included) and anything that could pass for identity or rewrite the request, then the body's framing and X-Forwarded-For/Host/Proto as
 * Tollgate vouches for them. `upstreamToken`: an `oauth` upstream's own bearer token for the user,
 * the only Authorization the upstream ever sees.
 */
export function upstreamRequestHeaders(
  method: string,
  incoming: IncomingHttpHeaders,
  identity: IdentityHeaders,
  peer: Peer,
  upstreamHost: string,
  upstreamToken?: string,
): string[] {
  const out: string[] = [];
  for (const name in identity) out.push(name, identity[name]!);
  out.push("Host", upstreamHost);
  if (upstreamToken !== undefined) out.push("Authorization", `Bearer ${upstreamToken}`);
  const connectionNamed = connectionTokens(incoming);
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || FRAMING_AND_FORWARDED.has(name) || !forwardable(name, connectionNamed, peer)) continue;
    if (name === "cookie") {
      const cookies = withoutTollgateCookies([value].flat().join("; "));
      if (cookies !== null) out.push(name, cookies);
      continue;
    }
    if (typeof value === "string") out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  // Framing is re-derived from how the client's body arrived, never taken from a header the
  // client could have listed in Connection: a body must never reach the upstream unframed.
  if (incoming["transfer-encoding"] !== undefined) out.push("transfer-encoding", "chunked");
  // Node accepted the digits; the upstream gets the plain number (no leading zeros to read two ways).
  else if (incoming["content-length"] !== undefined) out.push("content-length", String(Number(incoming["content-length"])));
  else if (!BODYLESS_METHODS.has(method)) out.push("content-length", "0");
  const claimed: IncomingHttpHeaders = peer.trusted ? incoming : {};
  out.push("x-forwarded-for", [claimed["x-forwarded-for"], peer.address].flat().filter(Boolean).join(", "));
  const host = claimed["x-forwarded-host"] ?? incoming.host;
  if (host) out.push("x-forwarded-host", [host].flat().join(", "));
  // Tollgate serves plain HTTP; only a trusted proxy in front of it knows better.
  out.push("x-forwarded-proto", [claimed["x-forwarded-proto"] ?? "http"].flat().join(", "));
  return out;
}

/**
 * What an `oauth` upstream says to its own OAuth client, Tollgate, never to Tollgate's caller: its
 * challenge would pass for Tollgate's own (a client would go and authorize there), and its cookies
 * would be set on Tollgate's origin.
 */
const OAUTH_UPSTREAM_ONLY: ReadonlySet<string> = new Set(["www-authenticate", "set-cookie"]);

/**
 * The response headers the client sees: the upstream's, minus hop-by-hop headers, and for an
 * `oauth` upstream minus its WWW-Authenticate and Set-Cookie.
 */
export function clientResponseHeaders(incoming: IncomingHttpHeaders, oauthUpstream = false): OutgoingHttpHeaders {
  const dropped = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name) || (oauthUpstream && OAUTH_UPSTREAM_ONLY.has(name))) continue;
    out[name] = value;
  }
  return out;
}
