// A user's connection to an OAuth-protected upstream: the authorization code flow with PKCE S256
// from the user's browser session (begin, complete), the user's upstream tokens kept per (user,
// upstream), refreshed once across replicas when they expire, revoked and deleted on disconnect.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { UpstreamConfig } from "../config/upstreams.js";
import { RequestError } from "../errors.js";
import { upstreamConnectUrl, type UpstreamCredential, type UpstreamCredentials } from "../gateway/upstream-credentials.js";
import type { DcrCredentials } from "./dcr-credentials.js";
import { authUnavailable, FETCH_TIMEOUT_MS, reach, type UpstreamAuthDiscovery, type UpstreamAuthMetadata } from "./discovery.js";
import { onceAcrossReplicas, type Locks } from "./locks.js";
import type { RegistrationTarget, UpstreamRegistrar } from "./registration.js";
import { scopesHash } from "./scopes-hash.js";
import type { UpstreamTokens, UpstreamTokenStore } from "./user-tokens.js";

export type { UpstreamTokens, UpstreamTokenStore };

/** What the flow needs of an `oauth` upstream's configuration (TOLLGATE_UPSTREAMS). */
export type OauthUpstream = Pick<UpstreamConfig, "name" | "url" | "scopes">;

/** Who is connecting: the signed-in browser (src/ui/browser-sessions.ts BrowserUser). */
export interface ConnectingUser {
  readonly userId: string;
  /** The browser session's secret-derived id: the state is bound to it, it is never sent. */
  readonly sessionId: string;
}

/** What the browser carries between begin and complete (an HttpOnly cookie). */
export interface PendingConnect {
  readonly upstream: string;
  readonly userId: string;
  readonly state: string;
  readonly verifier: string;
  /** The authorization server the browser was sent to: the code is redeemed only if it is still the one discovered. */
  readonly issuer: string;
}

/** The authorization server's answer on the callback (its query). */
export interface ConnectAnswer {
  code?: unknown;
  state?: unknown;
  iss?: unknown;
  error?: unknown;
}

/** The user's upstream access token, or why there is none. */
export type UpstreamAccess = { kind: "token"; accessToken: string } | { kind: "not_connected" } | { kind: "reconnect" };

export interface UpstreamConnectorOptions {
  discovery: UpstreamAuthDiscovery;
  registrar: UpstreamRegistrar;
  tokens: UpstreamTokenStore;
  locks: Locks;
  /** TOLLGATE_PUBLIC_URL: the callback is `${publicUrl}/oauth/upstream/{name}/callback`. */
  publicUrl: string;
  /** Epoch milliseconds. */
  now?: () => number;
}

/** An access token this close to its expiry is refreshed before use. */
const REFRESH_BEFORE_MS = 30_000;
/**
 * One refresh at a time per (user, upstream) across replicas: the refresh token may rotate, and a
 * rotated one spent twice is refused (often ending the grant). The lock outlives the refresh: its
 * work (discovery, a registration that may wait 45 s for another replica's, the token request)
 * sends the refresh token only while the lock has a whole token request's bound, and a margin, to
 * run; later it gives up (503, tried again on the next request) rather than race the next holder.
 */
const REFRESH_LOCK_TTL_MS = 90_000;
const SPEND_MARGIN_MS = 5_000;
/** How long a request waits for another replica's refresh before answering 503. */
const REFRESH_WAIT_MS = 20_000;

export class UpstreamConnector {
  readonly #o: UpstreamConnectorOptions;
  readonly #now: () => number;

  constructor(options: UpstreamConnectorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  redirectUri(upstream: string): string {
    return new URL(`/oauth/upstream/${upstream}/callback`, this.#o.publicUrl).href;
  }

  /** Where to send the browser, and what it must bring back. Throws RequestError upstream_auth_unavailable. */
  async begin(upstream: OauthUpstream, user: ConnectingUser): Promise<{ location: string; pending: PendingConnect }> {
    const { metadata, scopes, client } = await this.#client(upstream);
    const nonce = randomBytes(24).toString("base64url");
    const pending: PendingConnect = { upstream: upstream.name, userId: user.userId, state: `${nonce}.${stateMac(user, upstream.name, nonce)}`, verifier: randomBytes(32).toString("base64url"), issuer: metadata.issuer };
    const url = new URL(metadata.authorizationEndpoint);
    const params: Record<string, string> = {
      response_type: "code",
      client_id: client.clientId,
      redirect_uri: this.redirectUri(upstream.name),
      state: pending.state,
      code_challenge: createHash("sha256").update(pending.verifier).digest("base64url"),
      code_challenge_method: "S256",
      resource: metadata.resource,
      ...(scopes.length ? { scope: scopes.join(" ") } : {}),
      // offline_access is a consent-bound scope at OpenID providers: ask for consent with it.
      ...(scopes.includes("offline_access") ? { prompt: "consent" } : {}),
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return { location: url.href, pending };
  }

  /**
   * The authorization server's answer: state bound to this browser session and this user, iss
   * checked (RFC 9207), the code redeemed with the verifier, the tokens stored. Throws RequestError.
   */
  async complete(upstream: OauthUpstream, user: ConnectingUser, answer: ConnectAnswer, pending: PendingConnect | null): Promise<void> {
    if (!pending || pending.upstream !== upstream.name || typeof answer.state !== "string" || answer.state !== pending.state) throw failed("state does not match this browser's connection");
    if (pending.userId !== user.userId || !validState(user, upstream.name, answer.state)) throw failed("it was started by another user or another browser session");
    const { metadata, scopes, client, target } = await this.#client(upstream);
    // The code and the verifier go only to the server the browser was sent to.
    if (pending.issuer !== metadata.issuer) throw failed("the upstream's authorization server changed since the connection began");
    // RFC 9207: where the server names itself in the answer, it must be the one we asked.
    if ((answer.iss !== undefined || metadata.issParameterSupported) && answer.iss !== metadata.issuer) throw failed("iss does not name the upstream's authorization server");
    if (answer.error !== undefined) throw failed(`the upstream's authorization server answered ${oauthCode(answer.error) ?? "an error"}`);
    if (typeof answer.code !== "string" || answer.code.length === 0) throw failed("no code");
    const grant = { grant_type: "authorization_code", code: answer.code, redirect_uri: this.redirectUri(upstream.name), code_verifier: pending.verifier, resource: metadata.resource };
    let answered = await tokenRequest(metadata, client, grant);
    if (answered.error === "invalid_client") {
      // A code is bound to the client it was issued to: only an update that kept the client_id can still redeem it.
      const renewed = await this.#o.registrar.afterInvalidClient(target, client);
      if (renewed.clientId !== client.clientId) throw failed("Tollgate's registration at the upstream was replaced; connect again");
      answered = await tokenRequest(metadata, renewed, grant);
    }
    if (!answered.tokens) throw failed(`the upstream's token endpoint answered ${answered.status}${answered.error ? ` ${answered.error}` : ""}`);
    await this.#o.tokens.put(user.userId, upstream.name, { ...this.#stored(answered.tokens, scopes, client.clientId, metadata, undefined), connectedAt: this.#now() });
  }

  /** The user's access token for the upstream, refreshed (once across replicas) when near expiry. */
  async access(upstream: OauthUpstream, userId: string): Promise<UpstreamAccess> {
    const current = await this.#o.tokens.get(userId, upstream.name);
    if (!current) return { kind: "not_connected" };
    if (this.#fresh(current)) return { kind: "token", accessToken: current.accessToken };
    // Stored before their issuer was recorded: where the refresh token may go is unknown.
    if (!current.refreshToken || current.issuer === undefined) return this.#reconnect(userId, upstream);
    const name = `refresh:${createHash("sha256").update(JSON.stringify([userId, upstream.name])).digest("base64url")}`;
    const refreshedElsewhere = async (): Promise<UpstreamAccess | null> => {
      const now = await this.#o.tokens.get(userId, upstream.name);
      if (!now) return { kind: "not_connected" };
      return now.accessToken !== current.accessToken && this.#fresh(now) ? { kind: "token", accessToken: now.accessToken } : null;
    };
    return onceAcrossReplicas(this.#o.locks, name, { ttlMs: REFRESH_LOCK_TTL_MS, waitMs: REFRESH_WAIT_MS }, refreshedElsewhere, (heldUntil) => this.#refresh(upstream, userId, current, heldUntil), () => authUnavailable("another replica's token refresh did not finish in time"));
  }

  /** The upstream refused `accessToken` (401): the user's tokens are deleted if they are still those (a refresh may have replaced them). */
  async rejected(upstream: OauthUpstream, userId: string, accessToken: string): Promise<void> {
    const current = await this.#o.tokens.get(userId, upstream.name);
    if (current?.accessToken === accessToken) await this.#o.tokens.delete(userId, upstream.name);
  }

  /** Revokes the user's tokens at the upstream (RFC 7009 where offered) and deletes them. false: there were none. */
  async disconnect(upstream: OauthUpstream, userId: string): Promise<boolean> {
    const current = await this.#o.tokens.get(userId, upstream.name);
    if (!current) return false;
    const { metadata, client } = await this.#client(upstream);
    // A token is revoked only at the server that issued it (not at one discovery names since); else it is only deleted.
    if (metadata.revocationEndpoint && client.clientId === current.clientId && issuedBy(current, metadata)) {
      // The refresh token where there is one: revoking it ends the grant's access tokens too (RFC 7009 §2.1).
      const [token, hint] = current.refreshToken ? [current.refreshToken, "refresh_token"] : [current.accessToken, "access_token"];
      const res = await postForm(metadata.revocationEndpoint, client, { token, token_type_hint: hint });
      const error = res.ok ? undefined : oauthCode(((await res.json().catch(() => null)) as { error?: unknown } | null)?.error);
      await res.body?.cancel().catch(() => undefined);
      // unsupported_token_type: the server cannot revoke that kind (a self-contained access token); it expires on its own.
      if (!res.ok && error !== "unsupported_token_type") throw authUnavailable(`its revocation endpoint answered ${res.status}`);
    }
    return this.#o.tokens.delete(userId, upstream.name);
  }

  async #refresh(upstream: OauthUpstream, userId: string, current: UpstreamTokens, heldUntil: number): Promise<UpstreamAccess> {
    /** The refresh token is sent only while the lock will outlast the token request. */
    const spend = (client: DcrCredentials, grant: Record<string, string>, metadata: UpstreamAuthMetadata) => {
      if (Date.now() + FETCH_TIMEOUT_MS + SPEND_MARGIN_MS > heldUntil) throw authUnavailable("the token refresh took too long");
      return tokenRequest(metadata, client, grant);
    };
    const { metadata, scopes, client } = await this.#client(upstream);
    // The refresh token goes only to the token endpoint of the server that issued it: discovery
    // naming another (a changed or hostile metadata document) drops it, unsent.
    if (!issuedBy(current, metadata)) return this.#reconnect(userId, upstream);
    // Tollgate was registered anew since: the old client's refresh token is not ours to use.
    if (client.clientId !== current.clientId) return this.#reconnect(userId, upstream);
    const grant = { grant_type: "refresh_token", refresh_token: current.refreshToken!, resource: metadata.resource };
    let answered = await spend(client, grant, metadata);
    let clientId = client.clientId;
    if (answered.error === "invalid_client") {
      const renewed = await this.#o.registrar.afterInvalidClient(this.#target(upstream, metadata, scopes), client);
      if (renewed.clientId !== client.clientId) return this.#reconnect(userId, upstream);
      answered = await spend(renewed, grant, metadata);
      clientId = renewed.clientId;
    }
    if (!answered.tokens) return this.#reconnect(userId, upstream);
    const tokens = this.#stored(answered.tokens, scopes, clientId, metadata, current);
    await this.#o.tokens.put(userId, upstream.name, tokens);
    return { kind: "token", accessToken: tokens.accessToken };
  }

  /** A refresh the authorization server refused: the tokens are useless, the user must connect again. */
  async #reconnect(userId: string, upstream: OauthUpstream): Promise<UpstreamAccess> {
    await this.#o.tokens.delete(userId, upstream.name);
    return { kind: "reconnect" };
  }

  #fresh(tokens: UpstreamTokens): boolean {
    return tokens.expiresAt === undefined || tokens.expiresAt - REFRESH_BEFORE_MS > this.#now();
  }

  #stored(answer: TokenAnswer, requested: readonly string[], clientId: string, metadata: UpstreamAuthMetadata, previous: UpstreamTokens | undefined): UpstreamTokens {
    const refreshToken = answer.refresh_token ?? previous?.refreshToken;
    return {
      accessToken: answer.access_token,
      ...(refreshToken ? { refreshToken } : {}),
      ...(answer.expires_in !== undefined ? { expiresAt: this.#now() + answer.expires_in * 1000 } : {}),
      scopes: answer.scope !== undefined ? answer.scope.split(" ").filter(Boolean) : (previous?.scopes ?? requested),
      clientId,
      issuer: metadata.issuer,
      tokenEndpoint: metadata.tokenEndpoint,
      ...(previous?.connectedAt !== undefined ? { connectedAt: previous.connectedAt } : {}),
    };
  }

  async #client(upstream: OauthUpstream): Promise<{ metadata: UpstreamAuthMetadata; scopes: string[]; client: DcrCredentials; target: RegistrationTarget }> {
    // The upstream's URL is its MCP server's, the protected resource; configured scopes, else those it says it supports.
    const metadata = await this.#o.discovery.metadata(upstream.url.href);
    const scopes = [...new Set([...(upstream.scopes.length ? upstream.scopes : (metadata.scopesSupported ?? [])), ...(metadata.offlineAccess ? ["offline_access"] : [])])];
    const target = this.#target(upstream, metadata, scopes);
    return { metadata, scopes, client: await this.#o.registrar.credentials(target), target };
  }

  #target(upstream: OauthUpstream, metadata: UpstreamAuthMetadata, scopes: string[]): RegistrationTarget {
    return { metadata, key: { issuer: metadata.issuer, redirectUri: this.redirectUri(upstream.name), scopesHash: scopesHash(scopes) }, scopes };
  }
}

/** Whether the tokens were issued by the authorization server (and token endpoint) discovered now. */
function issuedBy(tokens: UpstreamTokens, metadata: UpstreamAuthMetadata): boolean {
  return tokens.issuer === metadata.issuer && tokens.tokenEndpoint === metadata.tokenEndpoint;
}

/** The state's second half: a MAC under the browser session's id of the upstream, the user and the nonce. */
function stateMac(user: ConnectingUser, upstream: string, nonce: string): string {
  return createHmac("sha256", user.sessionId).update(`tollgate upstream connect\0${upstream}\0${user.userId}\0${nonce}`).digest("base64url");
}

function validState(user: ConnectingUser, upstream: string, state: string): boolean {
  const [nonce, mac, extra] = state.split(".");
  if (!nonce || !mac || extra !== undefined) return false;
  const expected = Buffer.from(stateMac(user, upstream, nonce));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
}

/** The token endpoint's answer: tokens, or the status and OAuth error code. Unreachable: upstream_auth_unavailable. */
async function tokenRequest(metadata: UpstreamAuthMetadata, client: DcrCredentials, params: Record<string, string>): Promise<{ status: number; tokens?: TokenAnswer; error?: string }> {
  const res = await postForm(metadata.tokenEndpoint, client, params);
  const body = ((await res.json().catch(() => null)) ?? {}) as Record<string, unknown>;
  if (res.status >= 500) throw authUnavailable(`its token endpoint answered ${res.status}`);
  const valid =
    res.ok &&
    typeof body.access_token === "string" &&
    body.access_token !== "" &&
    typeof body.token_type === "string" &&
    body.token_type.toLowerCase() === "bearer" &&
    (body.expires_in === undefined || (typeof body.expires_in === "number" && body.expires_in > 0)) &&
    (body.refresh_token === undefined || typeof body.refresh_token === "string") &&
    (body.scope === undefined || typeof body.scope === "string");
  if (valid) return { status: res.status, tokens: body as unknown as TokenAnswer };
  const error = oauthCode(body.error);
  return { status: res.status, ...(error ? { error } : {}) };
}

/** A form POST to the authorization server, authenticated as the registration says (RFC 6749 §2.3). */
function postForm(url: string, client: DcrCredentials, params: Record<string, string>): Promise<Response> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (client.tokenEndpointAuthMethod === "client_secret_basic" && client.clientSecret) {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString("base64")}`;
  } else {
    body.set("client_id", client.clientId);
    if (client.tokenEndpointAuthMethod === "client_secret_post" && client.clientSecret) body.set("client_secret", client.clientSecret);
  }
  return reach(url, { method: "POST", headers, body });
}

/** RFC 6749 2.3.1: the client id and secret are form-encoded before Basic. */
const formEncode = (s: string): string => new URLSearchParams({ s }).toString().slice(2);

/** An OAuth error code as sent (a short token), never its description, which may echo input. */
function oauthCode(value: unknown): string | undefined {
  return typeof value === "string" && /^[\x21-\x7e]{1,64}$/.test(value) ? value : undefined;
}

function failed(why: string): RequestError {
  return new RequestError("invalid_request", `connecting the upstream failed: ${why}; try again`);
}

/**
 * The gateway's seam (src/gateway/upstream-credentials.ts) answered by the connect flow: the
 * user's upstream token, refreshed when due; not connected (or asked to reconnect) → the connect
 * URL made for the user; the authorization server unreachable → unavailable.
 */
export function connectedUpstreams(connector: UpstreamConnector, publicUrl: string): UpstreamCredentials {
  const notConnected = (userId: string, upstream: OauthUpstream): UpstreamCredential => ({ kind: "not_connected", connectUrl: upstreamConnectUrl(publicUrl, upstream.name, userId), elicitationId: randomUUID() });
  return {
    async rejected(userId, upstream, token) {
      await connector.rejected(upstream, userId, token);
      return notConnected(userId, upstream);
    },
    async credentialFor(userId, upstream) {
      let access: UpstreamAccess;
      try {
        access = await connector.access(upstream, userId);
      } catch (err) {
        if (err instanceof RequestError && err.code === "upstream_auth_unavailable") return { kind: "unavailable" };
        throw err;
      }
      if (access.kind === "token") return { kind: "token", token: access.accessToken };
      return notConnected(userId, upstream);
    },
  };
}
