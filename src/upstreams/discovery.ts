// Where an OAuth-protected upstream MCP server sends its clients, found as MCP clients must find it
// (MCP authorization, 2025-06-18 and later): the upstream's protected resource metadata (RFC 9728)
// names its authorization server, whose metadata (RFC 8414, OpenID Connect Discovery as the
// fallback) names the endpoints. An authorization server without PKCE S256 is refused.
import { isLoopbackHost } from "../config/config.js";
import { RequestError } from "../errors.js";

/** What the flow needs to know about an upstream and its authorization server. */
export interface UpstreamAuthMetadata {
  /** The upstream MCP URL: the RFC 8707 `resource` of every authorization and token request. */
  readonly resource: string;
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  /** RFC 7591; absent: the authorization server takes no dynamic registration. */
  readonly registrationEndpoint?: string;
  /** RFC 7009; absent: disconnecting only deletes the tokens. */
  readonly revocationEndpoint?: string;
  /** The scopes the resource (else the authorization server) says it supports, when it says. */
  readonly scopesSupported?: readonly string[];
  readonly tokenEndpointAuthMethods?: readonly string[];
  /** RFC 9207: the authorization response names its issuer. */
  readonly issParameterSupported: boolean;
  /** The authorization server lists offline_access: asked for, so that a refresh token comes. */
  readonly offlineAccess: boolean;
}

/** Bounds each request to the upstream or its authorization server, its answer's body included. */
export const FETCH_TIMEOUT_MS = 5_000;
/** Metadata documents are small; a bigger answer is not one. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** The upstream's authorization could not be discovered: 503, the operator's or the upstream's problem, never the caller's. */
export function authUnavailable(why: string): RequestError {
  return new RequestError("upstream_auth_unavailable", `the upstream's authorization server is unavailable: ${why}`);
}

/** Which URLs discovery follows. */
export interface DiscoveryOptions {
  /**
   * Plain http to a loopback host (development and tests; never in production, where a loopback
   * authorization server is another process on the machine, not the upstream's). Otherwise every
   * URL discovery follows is https.
   */
  plainLoopback: boolean;
}

const HTTPS_ONLY: DiscoveryOptions = { plainLoopback: false };

/**
 * Discovery for one upstream MCP URL. Throws RequestError `upstream_auth_unavailable` when the
 * upstream or its authorization server cannot be reached or says nothing usable.
 */
export async function discoverUpstreamAuth(mcpUrl: string, options: DiscoveryOptions = HTTPS_ONLY): Promise<UpstreamAuthMetadata> {
  const checkUrl = (raw: string, what: string): void => checkDiscoveredUrl(raw, what, options);
  const resourceMetadata = await protectedResourceMetadata(mcpUrl, checkUrl);
  const servers = resourceMetadata.authorization_servers;
  if (!Array.isArray(servers) || typeof servers[0] !== "string") throw authUnavailable("the protected resource metadata names no authorization server");
  const issuer = servers[0];
  checkUrl(issuer, "authorization server");
  const as = await authorizationServerMetadata(issuer);
  const methods = as.code_challenge_methods_supported;
  // MCP authorization: a client must refuse to proceed without PKCE support, and S256 is the one used.
  if (!Array.isArray(methods) || !methods.includes("S256")) throw authUnavailable("the authorization server does not offer PKCE S256");
  const endpoint = (name: string): string | undefined => {
    const value = as[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw authUnavailable(`its ${name} is not a URL`);
    checkUrl(value, name);
    return value;
  };
  const authorizationEndpoint = endpoint("authorization_endpoint");
  const tokenEndpoint = endpoint("token_endpoint");
  if (!authorizationEndpoint || !tokenEndpoint) throw authUnavailable("its metadata has no authorization or token endpoint");
  const registrationEndpoint = endpoint("registration_endpoint");
  const revocationEndpoint = endpoint("revocation_endpoint");
  const scopes = strings(resourceMetadata.scopes_supported) ?? strings(as.scopes_supported);
  const authMethods = strings(as.token_endpoint_auth_methods_supported);
  return {
    resource: mcpUrl,
    issuer,
    authorizationEndpoint,
    tokenEndpoint,
    ...(registrationEndpoint ? { registrationEndpoint } : {}),
    ...(revocationEndpoint ? { revocationEndpoint } : {}),
    ...(scopes ? { scopesSupported: scopes } : {}),
    ...(authMethods ? { tokenEndpointAuthMethods: authMethods } : {}),
    issParameterSupported: as.authorization_response_iss_parameter_supported === true,
    offlineAccess: strings(as.scopes_supported)?.includes("offline_access") ?? false,
  };
}

type Document = Record<string, unknown>;

/**
 * RFC 9728 as MCP clients use it: the resource_metadata URL of the upstream's 401 challenge,
 * else the well-known URI with the MCP URL's path inserted (§3.1), else at the root.
 */
async function protectedResourceMetadata(mcpUrl: string, checkUrl: (raw: string, what: string) => void): Promise<Document> {
  const url = new URL(mcpUrl);
  const candidates: string[] = [];
  const challenged = await challengeMetadataUrl(mcpUrl, checkUrl);
  if (challenged) candidates.push(challenged);
  const path = url.pathname.replace(/\/$/, "");
  if (path !== "") candidates.push(new URL(`/.well-known/oauth-protected-resource${path}`, url.origin).href);
  candidates.push(new URL("/.well-known/oauth-protected-resource", url.origin).href);
  for (const candidate of candidates) {
    const doc = await fetchDocument(candidate);
    if (!doc) continue;
    // RFC 9728 §3.3: the document is about the resource it was asked for (the MCP URL or a parent of it).
    if (typeof doc.resource !== "string" || !coversResource(doc.resource, url)) throw authUnavailable("the protected resource metadata names another resource");
    return doc;
  }
  throw authUnavailable("the upstream publishes no protected resource metadata");
}

/** An unauthenticated MCP request: a protected upstream answers 401 with WWW-Authenticate (RFC 9728 §5.1). */
async function challengeMetadataUrl(mcpUrl: string, checkUrl: (raw: string, what: string) => void): Promise<string | null> {
  const res = await reach(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "ping" }),
  });
  await res.body?.cancel();
  if (res.status !== 401) return null;
  const match = /resource_metadata="([^"]+)"/i.exec(res.headers.get("www-authenticate") ?? "");
  if (!match) return null;
  checkUrl(match[1]!, "resource_metadata");
  return match[1]!;
}

/** RFC 8414 §3.1 (path inserted), then OpenID Connect Discovery, in the order MCP clients try them. */
async function authorizationServerMetadata(issuer: string): Promise<Document> {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, "");
  const candidates =
    path === ""
      ? [`/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration`]
      : [`/.well-known/oauth-authorization-server${path}`, `/.well-known/openid-configuration${path}`, `${path}/.well-known/openid-configuration`];
  for (const candidate of candidates) {
    const doc = await fetchDocument(new URL(candidate, url.origin).href);
    if (!doc) continue;
    // RFC 8414 §3.3 / OpenID Discovery §4.3: the document names exactly the issuer it was fetched for.
    if (doc.issuer !== issuer) throw authUnavailable("its metadata names another issuer");
    return doc;
  }
  throw authUnavailable("it publishes no authorization server metadata");
}

/** A JSON document, null when not there (4xx); unreachable, 5xx or not JSON: unavailable. */
async function fetchDocument(url: string): Promise<Document | null> {
  const res = await reach(url, { headers: { accept: "application/json" } });
  if (res.status >= 300 && res.status < 500) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw authUnavailable(`${new URL(url).host} answered ${res.status}`);
  }
  const text = await res.text().catch(() => null);
  if (text === null || text.length > MAX_DOCUMENT_BYTES) throw authUnavailable(`${new URL(url).host} sent an unreadable document`);
  try {
    const doc = JSON.parse(text) as unknown;
    if (doc && typeof doc === "object" && !Array.isArray(doc)) return doc as Document;
  } catch {
    // falls through
  }
  throw authUnavailable(`${new URL(url).host} sent a document that is not a JSON object`);
}

/** fetch with a bound; redirects are not followed (a metadata URL is where it is said to be). */
export async function reach(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch {
    throw authUnavailable(`${new URL(url).host} could not be reached`);
  }
}

/** https, or http on a loopback host where allowed (outside production); no credentials in the URL. */
function checkDiscoveredUrl(raw: string, what: string, options: DiscoveryOptions): void {
  const url = URL.canParse(raw) ? new URL(raw) : null;
  const ok = url !== null && url.username === "" && url.password === "" && (url.protocol === "https:" || (options.plainLoopback && url.protocol === "http:" && isLoopbackHost(url.hostname)));
  if (!ok) throw authUnavailable(`its ${what} is not an https URL`);
}

/** The metadata's resource is the MCP URL or a parent of its path on the same origin. */
function coversResource(resource: string, mcpUrl: URL): boolean {
  if (!URL.canParse(resource)) return false;
  const r = new URL(resource);
  if (r.origin !== mcpUrl.origin) return false;
  const parent = r.pathname.endsWith("/") ? r.pathname : `${r.pathname}/`;
  return mcpUrl.pathname === r.pathname || `${mcpUrl.pathname}/`.startsWith(parent);
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
}

/** How long discovered metadata is reused before it is fetched again. */
const DISCOVERY_TTL_MS = 60 * 60_000;

/**
 * Discovery once per upstream per hour, concurrent callers sharing one fetch. Only a success is
 * kept: a failure (the authorization server down) is never cached, so the next call tries again.
 */
export class UpstreamAuthDiscovery {
  readonly #cache = new Map<string, { metadata: Promise<UpstreamAuthMetadata>; until: number }>();
  readonly #discover: (mcpUrl: string) => Promise<UpstreamAuthMetadata>;
  readonly #now: () => number;

  /** `plainLoopback`: see DiscoveryOptions (off unless asked: production's rule). */
  constructor(options: { discover?: (mcpUrl: string) => Promise<UpstreamAuthMetadata>; now?: () => number; plainLoopback?: boolean } = {}) {
    const followed: DiscoveryOptions = { plainLoopback: options.plainLoopback ?? false };
    this.#discover = options.discover ?? ((mcpUrl) => discoverUpstreamAuth(mcpUrl, followed));
    this.#now = options.now ?? Date.now;
  }

  metadata(mcpUrl: string): Promise<UpstreamAuthMetadata> {
    const cached = this.#cache.get(mcpUrl);
    if (cached && cached.until > this.#now()) return cached.metadata;
    const metadata = this.#discover(mcpUrl);
    const entry = { metadata, until: this.#now() + DISCOVERY_TTL_MS };
    this.#cache.set(mcpUrl, entry);
    metadata.catch(() => {
      if (this.#cache.get(mcpUrl) === entry) this.#cache.delete(mcpUrl);
    });
    return metadata;
  }
}
