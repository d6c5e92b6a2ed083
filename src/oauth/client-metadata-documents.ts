// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client_id that
// is an https URL names a JSON document, at that URL, describing the client. Tollgate fetches it
// under the SSRF guard (guarded-fetch.ts), accepts it only as served from exactly that URL (not
// through a redirect elsewhere), validates it, and hands oidc-provider the metadata of a
// public client (token_endpoint_auth_method none). Documents are cached as their HTTP caching
// headers allow (RFC 9111, at most a day, at most CACHE_MAX_ENTRIES of them); a refusal is
// remembered REFUSAL_TTL_MS, so a client_id cannot make Tollgate fetch on every request. Any caller
// can make Tollgate fetch a URL of its choosing, so fetches are bounded: at most
// MAX_CONCURRENT_FETCHES at once in the process, and each cache miss counts against its client
// address on the shared rate limiter (TOLLGATE_OAUTH_DOCUMENT_FETCHES_PER_HOUR); past either, the
// client is refused without a fetch, and the refusal is not cached (it is about the moment and the caller, not the client_id).
import CachePolicy from "http-cache-semantics";
import { LRUCache } from "lru-cache";
import type { Logger } from "../log.js";
import type { RateLimiter } from "../stores/types.js";
import { guardedFetch, GuardedFetchError, type GuardedFetchErrorCode, type GuardedFetchOptions } from "./guarded-fetch.js";
import { SCOPES } from "./provider.js";
import { isLoopbackRedirectHost, redirectUriProblem } from "./redirect-uris.js";

export const CACHE_MAX_ENTRIES = 1_000;
export const CACHE_MAX_TTL_MS = 86_400_000;
export const REFUSAL_TTL_MS = 10_000;
export const MAX_CONCURRENT_FETCHES = 16;
const HOUR_MS = 3_600_000;
const URL_MAX = 2_048;
const NAME_MAX = 100;
const REDIRECT_URIS_MAX = 10;
const GRANT_TYPES = new Set(["authorization_code", "refresh_token"]);

/** A client_id Tollgate resolves as a Client ID Metadata Document (anything https, valid or not: it is never looked up as a registration). */
export function isClientIdMetadataDocumentUrl(clientId: string): boolean {
  return /^https:/i.test(clientId);
}

/** The client metadata handed to oidc-provider: only fields Tollgate understands, a public client. */
export interface DocumentClientMetadata {
  client_id: string;
  client_name: string;
  /** The origin of the client_id: what the user can trust, whatever the document claims. */
  client_uri: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: ["code"];
  token_endpoint_auth_method: "none";
  application_type: "web" | "native";
  scope?: string;
}

export type ClientMetadataDocumentRefusalCode = GuardedFetchErrorCode | "invalid_client_id_url" | "bad_document" | "client_id_mismatch" | "client_secret" | "redirected" | "busy" | "rate_limited";

/** Why a client_id URL is refused; `message` is the error_description the client sees (invalid_client). */
export class ClientMetadataDocumentRefused extends Error {
  constructor(
    readonly code: ClientMetadataDocumentRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = "ClientMetadataDocumentRefused";
  }
}

export interface ClientMetadataDocumentsOptions extends Pick<GuardedFetchOptions, "allowLoopback" | "resolve" | "extraCa"> {
  logger: Logger;
  /**
   * Document fetches (cache misses) admitted per client address in any hour, on the shared
   * limiter. `requester` is the address of the request being served (its /64 for IPv6), or
   * undefined outside one (then only the concurrency cap applies).
   */
  fetchLimit?: { limiter: RateLimiter; perHour: number; requester: () => string | undefined };
}

interface CacheEntry {
  expiresAt: number;
  result: DocumentClientMetadata | ClientMetadataDocumentRefused;
}

export class ClientMetadataDocuments {
  readonly #options: ClientMetadataDocumentsOptions;
  readonly #cache = new LRUCache<string, CacheEntry>({ max: CACHE_MAX_ENTRIES });
  /** One fetch per client_id at a time: concurrent requests wait for it. */
  readonly #pending = new Map<string, Promise<CacheEntry>>();

  constructor(options: ClientMetadataDocumentsOptions) {
    this.#options = options;
  }

  /** The client's metadata from its document; throws ClientMetadataDocumentRefused. */
  async clientMetadata(clientId: string): Promise<DocumentClientMetadata> {
    const cached = this.#cache.get(clientId);
    const entry = cached && cached.expiresAt > Date.now() ? cached : await this.#fetchAdmitted(clientId);
    if (entry.result instanceof ClientMetadataDocumentRefused) throw entry.result;
    return entry.result;
  }

  /** A cache miss: counted against the requester's address, then fetched (or joined) if the limits allow. */
  async #fetchAdmitted(clientId: string): Promise<CacheEntry> {
    const limit = this.#options.fetchLimit;
    const requester = limit?.requester();
    if (limit && requester !== undefined) {
      const hit = await limit.limiter.hit(`oauth_document_fetch:${requester}`, limit.perHour, HOUR_MS);
      if (!hit.allowed) {
        this.#options.logger.info({ client_id: clientId, requester }, "oauth: client metadata document fetch rate-limited");
        throw new ClientMetadataDocumentRefused("rate_limited", `client_id metadata document not fetched: more than ${limit.perHour} document fetches an hour from one address; try again later`);
      }
    }
    return this.#fetchOnce(clientId);
  }

  #fetchOnce(clientId: string): Promise<CacheEntry> {
    let pending = this.#pending.get(clientId);
    if (!pending) {
      if (this.#pending.size >= MAX_CONCURRENT_FETCHES) {
        this.#options.logger.warn({ client_id: clientId, in_flight: this.#pending.size }, "oauth: client metadata document fetch refused: too many in flight");
        throw new ClientMetadataDocumentRefused("busy", "client_id metadata document not fetched: too many documents are being fetched; try again later");
      }
      pending = this.#fetch(clientId).finally(() => this.#pending.delete(clientId));
      this.#pending.set(clientId, pending);
    }
    return pending;
  }

  async #fetch(clientId: string): Promise<CacheEntry> {
    let entry: CacheEntry;
    try {
      const { metadata, ttlMs } = await this.#fetchAndValidate(clientId);
      entry = { expiresAt: Date.now() + ttlMs, result: metadata };
      this.#options.logger.info({ client_id: clientId, ttl_ms: ttlMs }, "oauth: client metadata document fetched");
    } catch (err) {
      let refusal: ClientMetadataDocumentRefused;
      if (err instanceof ClientMetadataDocumentRefused) refusal = err;
      else if (err instanceof GuardedFetchError) {
        refusal = new ClientMetadataDocumentRefused(err.code, `client_id metadata document not fetched: ${err.message}`);
        if (err.detail) this.#options.logger.debug({ client_id: clientId, code: err.code, detail: err.detail }, "oauth: client metadata document fetch refused");
      } else {
        // Not a reason we know: refused all the same (fail closed), the cause only in the log.
        refusal = new ClientMetadataDocumentRefused("unreachable", "client_id metadata document not fetched");
        this.#options.logger.warn({ client_id: clientId, err: String(err) }, "oauth: client metadata document fetch failed");
      }
      entry = { expiresAt: Date.now() + REFUSAL_TTL_MS, result: refusal };
      this.#options.logger.info({ client_id: clientId, code: refusal.code, reason: refusal.message }, "oauth: client metadata document refused");
    }
    if (entry.expiresAt > Date.now()) this.#cache.set(clientId, entry);
    else this.#cache.delete(clientId);
    return entry;
  }

  async #fetchAndValidate(clientId: string): Promise<{ metadata: DocumentClientMetadata; ttlMs: number }> {
    const url = clientIdUrl(clientId);
    const { allowLoopback, resolve, extraCa } = this.#options;
    const answer = await guardedFetch(clientId, { allowLoopback, resolve, extraCa });
    // Served from exactly its client_id URL, or refused: a document reached through a redirect
    // elsewhere (an open redirect on a trusted site) would pass as the client_id's site.
    if (answer.url.href !== url.href) {
      this.#options.logger.debug({ client_id: clientId, served_from: answer.url.href }, "oauth: client metadata document redirected away from its client_id");
      throw refused("redirected", "it was not served from its client_id URL (a redirect led elsewhere)");
    }
    if (answer.status !== 200) throw new ClientMetadataDocumentRefused("bad_status", `client_id metadata document not fetched: ${answer.url.href} answered ${answer.status}`);
    let document: unknown;
    try {
      document = JSON.parse(answer.body.toString("utf8"));
    } catch {
      throw refused("bad_document", "is not JSON");
    }
    const metadata = validateDocument(clientId, url, document);
    const policy = new CachePolicy({ url: clientId, method: "GET", headers: { accept: "application/json" } }, { status: answer.status, headers: answer.headers }, { shared: true });
    // Fresh for what is left of its freshness lifetime (maxAge() is 0 when not storable, no-cache,
    // Vary: *); not timeToLive(), which adds stale-while-revalidate and stale-if-error: there is no revalidation here.
    const ttlMs = Math.min(Math.max(0, policy.maxAge() - policy.age()) * 1000, CACHE_MAX_TTL_MS);
    return { metadata, ttlMs };
  }
}

function refused(code: ClientMetadataDocumentRefusalCode, problem: string): ClientMetadataDocumentRefused {
  return new ClientMetadataDocumentRefused(code, `client_id metadata document refused: ${problem}`);
}

/** The client_id as the draft requires it: https, a path, no credentials, fragment or dot segments. */
function clientIdUrl(clientId: string): URL {
  const bad = (problem: string): ClientMetadataDocumentRefused => new ClientMetadataDocumentRefused("invalid_client_id_url", `client_id URL ${problem}`);
  if (clientId.length > URL_MAX) throw bad(`is longer than ${URL_MAX} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f\\]/.test(clientId)) throw bad("contains spaces, control characters or backslashes");
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw bad("is not a URL");
  }
  if (url.protocol !== "https:" || !clientId.startsWith("https://")) throw bad("must be an https URL");
  if (url.username || url.password) throw bad("must not contain a user name or password");
  if (clientId.includes("#")) throw bad("must not contain a fragment");
  const path = clientId.slice(url.origin.length).split("?")[0]!;
  if (path === "" || path === "/") throw bad("must contain a path");
  if (path.split("/").some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) throw bad("must not contain . or .. path segments");
  return url;
}

function validateDocument(clientId: string, url: URL, document: unknown): DocumentClientMetadata {
  if (typeof document !== "object" || document === null || Array.isArray(document)) throw refused("bad_document", "is not a JSON object");
  const d = document as Record<string, unknown>;
  if (d.client_id !== clientId) throw refused("client_id_mismatch", "its client_id is not the URL it was fetched from");
  if ("client_secret" in d || "client_secret_expires_at" in d) throw refused("client_secret", "it carries client_secret or client_secret_expires_at (a document is public: it cannot hold a secret)");
  const authMethod = d.token_endpoint_auth_method;
  if (typeof authMethod === "string" && authMethod.startsWith("client_secret_")) throw refused("client_secret", `token_endpoint_auth_method ${authMethod} needs a shared secret, which a document cannot have`);
  if (authMethod !== undefined && authMethod !== "none") throw refused("bad_document", 'token_endpoint_auth_method must be "none"');

  const name = d.client_name;
  // eslint-disable-next-line no-control-regex
  if (typeof name !== "string" || name.trim() === "" || name.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) throw refused("bad_document", `client_name must be 1-${NAME_MAX} characters without control characters`);

  const applicationType = d.application_type ?? "web";
  if (applicationType !== "web" && applicationType !== "native") throw refused("bad_document", 'application_type must be "web" or "native"');
  const redirectUris = d.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0 || redirectUris.length > REDIRECT_URIS_MAX) throw refused("bad_document", `redirect_uris must list 1-${REDIRECT_URIS_MAX} URIs`);
  for (const uri of redirectUris) {
    const problem = documentRedirectUriProblem(uri, applicationType);
    if (problem) throw refused("bad_document", `redirect_uris: ${problem}`);
  }

  const grantTypes = d.grant_types ?? ["authorization_code", "refresh_token"];
  if (!Array.isArray(grantTypes) || !grantTypes.includes("authorization_code") || grantTypes.some((g) => typeof g !== "string" || !GRANT_TYPES.has(g))) {
    throw refused("bad_document", "grant_types must include authorization_code and may add refresh_token, nothing else");
  }
  const responseTypes = d.response_types ?? ["code"];
  if (!Array.isArray(responseTypes) || responseTypes.length !== 1 || responseTypes[0] !== "code") throw refused("bad_document", 'response_types must be ["code"]');

  let scope: string | undefined;
  if (d.scope !== undefined) {
    if (typeof d.scope !== "string") throw refused("bad_document", "scope must be a string");
    // Scopes Tollgate does not offer are left out; a document asking for none of its scopes is refused.
    const offered = d.scope.split(" ").filter((s) => (SCOPES as readonly string[]).includes(s));
    if (offered.length === 0) throw refused("bad_document", `scope names none of ${SCOPES.join(", ")}`);
    scope = [...new Set(offered)].join(" ");
  }

  return {
    client_id: clientId,
    client_name: name.trim(),
    client_uri: url.origin,
    redirect_uris: redirectUris as string[],
    grant_types: [...new Set(grantTypes as string[])],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    application_type: applicationType,
    ...(scope ? { scope } : {}),
  };
}

/**
 * Tollgate's rule for every client (redirect-uris.ts: plain http only to a loopback host), and
 * what oidc-provider requires of the application type, checked here so that a document breaking
 * them is refused as invalid_client with the reason: no fragment; a web application's URIs are
 * http(s); a native application's loopback redirect is http, and it may use a private-use scheme
 * with a dot (RFC 8252 §7.1, `com.example.app:/callback`).
 */
function documentRedirectUriProblem(uri: unknown, applicationType: "web" | "native"): string | null {
  if (typeof uri !== "string" || uri.length > URL_MAX) return "each must be a string URI";
  const url = URL.parse(uri);
  if (url === null) return `${JSON.stringify(uri)} is not a URI`;
  if (uri.includes("#")) return `${uri} has a fragment`;
  const problem = redirectUriProblem(uri);
  if (problem !== null) return `${uri}: ${problem}`;
  if (url.protocol === "http:") return null;
  if (url.protocol === "https:") return applicationType === "native" && isLoopbackRedirectHost(url.hostname) ? `${uri}: a native application's loopback redirect URI is http` : null;
  if (applicationType === "native" && /^[a-z][a-z0-9+-]*\.[a-z0-9.+-]+:$/i.test(url.protocol)) return null;
  return `${uri}: https, http to a loopback host, or (native) a private-use scheme with a dot`;
}
