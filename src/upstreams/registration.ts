// Tollgate as a dynamically registered client (RFC 7591) of an upstream's authorization server:
// one registration per key (issuer, redirect URI, scopes) for every replica, kept in the shared
// DCR credential store. One replica registers under a cross-replica lock while the others wait for
// its result in the store. A secret near expiry, or refused as invalid_client, is renewed by an
// RFC 7592 update where the authorization server offers management (the client_id stays, and with
// it every user's refresh token); only otherwise is Tollgate registered anew, and the users
// connected under the old client are told to reconnect.
import { createHash } from "node:crypto";
import { DcrCredentialsNotFoundError, type DcrCredentialStore, type DcrCredentials, type DcrKey } from "./dcr-credentials.js";
import { authUnavailable, reach, type UpstreamAuthMetadata } from "./discovery.js";
import { onceAcrossReplicas, type Locks } from "./locks.js";

/** A secret expiring within this is renewed before use. */
const RENEW_BEFORE_EXPIRY_S = 5 * 60;
/** The lock outlives any registration round trip; a dead holder frees it after this. */
const LOCK_TTL_MS = 30_000;
/** How long a replica waits for another's registration before answering 503. */
const WAIT_MS = 45_000;

/** Told when Tollgate had to register anew: users connected under `previousClientId` must reconnect. */
export type ReregisteredHook = (event: { key: DcrKey; previousClientId: string; clientId: string }) => Promise<void>;

export interface UpstreamRegistrarOptions {
  store: DcrCredentialStore;
  locks: Locks;
  /** client_name sent to the authorization server, and the credentials' providerName. */
  clientName: string;
  onReregistered: ReregisteredHook;
  /** Epoch milliseconds. */
  now?: () => number;
}

/** What to register for: the upstream's authorization server, Tollgate's callback, the scopes. */
export interface RegistrationTarget {
  metadata: UpstreamAuthMetadata;
  key: DcrKey;
  scopes: readonly string[];
}

export class UpstreamRegistrar {
  readonly #o: UpstreamRegistrarOptions;
  readonly #now: () => number;

  constructor(options: UpstreamRegistrarOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The registration to use: the stored one, renewed when near expiry, or a new one. Throws RequestError upstream_auth_unavailable. */
  async credentials(target: RegistrationTarget): Promise<DcrCredentials> {
    const usable = async (): Promise<DcrCredentials | null> => {
      const stored = await this.#stored(target.key);
      return stored && !this.#nearExpiry(stored) ? stored : null;
    };
    return (await usable()) ?? this.#exclusively(target, usable, async () => {
      const stored = await this.#stored(target.key);
      return stored ? this.#renew(target, stored) : this.#register(target);
    });
  }

  /**
   * The authorization server refused `refused` as invalid_client: renew it (once across replicas:
   * a replica that finds a different registration stored uses that one).
   */
  async afterInvalidClient(target: RegistrationTarget, refused: DcrCredentials): Promise<DcrCredentials> {
    const replaced = async (): Promise<DcrCredentials | null> => {
      const stored = await this.#stored(target.key);
      return stored && !sameClient(stored, refused) && !this.#nearExpiry(stored) ? stored : null;
    };
    return (await replaced()) ?? this.#exclusively(target, replaced, async () => this.#renew(target, (await this.#stored(target.key)) ?? refused));
  }

  #exclusively(target: RegistrationTarget, ready: () => Promise<DcrCredentials | null>, work: () => Promise<DcrCredentials>): Promise<DcrCredentials> {
    const name = `reg:${createHash("sha256").update(JSON.stringify([target.key.issuer, target.key.redirectUri, target.key.scopesHash])).digest("base64url")}`;
    return onceAcrossReplicas(this.#o.locks, name, { ttlMs: LOCK_TTL_MS, waitMs: WAIT_MS }, ready, work, () => authUnavailable("another replica's registration did not finish in time"));
  }

  async #stored(key: DcrKey): Promise<DcrCredentials | null> {
    try {
      return await this.#o.store.get(key);
    } catch (err) {
      if (err instanceof DcrCredentialsNotFoundError) return null;
      throw err;
    }
  }

  #nearExpiry(c: DcrCredentials): boolean {
    return !!c.clientSecretExpiresAt && c.clientSecretExpiresAt - RENEW_BEFORE_EXPIRY_S <= this.#now() / 1000;
  }

  /**
   * RFC 7592 update where offered on the registration endpoint's origin (keeps the client_id);
   * else, or when the server no longer knows the client, a new registration.
   */
  async #renew(target: RegistrationTarget, current: DcrCredentials): Promise<DcrCredentials> {
    if (current.registrationClientUri && current.registrationAccessToken && onRegistrationOrigin(current.registrationClientUri, target.metadata.registrationEndpoint)) {
      const updated = await this.#update(target, current);
      if (updated) return updated;
    }
    const fresh = await this.#register(target);
    if (fresh.clientId !== current.clientId) await this.#o.onReregistered({ key: target.key, previousClientId: current.clientId, clientId: fresh.clientId });
    return fresh;
  }

  async #register(target: RegistrationTarget): Promise<DcrCredentials> {
    const endpoint = target.metadata.registrationEndpoint;
    if (!endpoint) throw authUnavailable("it offers no dynamic client registration");
    const answer = await sendJson(endpoint, "POST", this.#clientMetadata(target), undefined);
    if (answer.status !== 201 && answer.status !== 200) throw authUnavailable(`its registration endpoint answered ${answer.status}${oauthError(answer.body)}`);
    return this.#save(target, answer.body, undefined);
  }

  /** null: the server no longer knows the client (401, 403, 404): register anew. */
  async #update(target: RegistrationTarget, current: DcrCredentials): Promise<DcrCredentials | null> {
    const body = { ...this.#clientMetadata(target), client_id: current.clientId, ...(current.clientSecret ? { client_secret: current.clientSecret } : {}) };
    const answer = await sendJson(current.registrationClientUri!, "PUT", body, current.registrationAccessToken);
    if (answer.status === 401 || answer.status === 403 || answer.status === 404) return null;
    if (answer.status !== 200) throw authUnavailable(`its client configuration endpoint answered ${answer.status}${oauthError(answer.body)}`);
    if (answer.body.client_id !== current.clientId) throw authUnavailable("its client configuration endpoint answered for another client");
    return this.#save(target, answer.body, current);
  }

  #clientMetadata(target: RegistrationTarget): Record<string, unknown> {
    return {
      client_name: this.#o.clientName,
      redirect_uris: [target.key.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: authMethodFor(target.metadata),
      ...(target.scopes.length ? { scope: target.scopes.join(" ") } : {}),
    };
  }

  /** The answer as stored credentials; an update answer may omit what did not change (RFC 7592 §2.2). */
  async #save(target: RegistrationTarget, answer: Record<string, unknown>, previous: DcrCredentials | undefined): Promise<DcrCredentials> {
    const text = (name: string): string | undefined => (typeof answer[name] === "string" && answer[name] !== "" ? (answer[name] as string) : undefined);
    const clientId = text("client_id");
    if (!clientId) throw authUnavailable("its registration answer has no client_id");
    const clientSecret = text("client_secret") ?? previous?.clientSecret;
    const expires = typeof answer.client_secret_expires_at === "number" ? answer.client_secret_expires_at : previous?.clientSecretExpiresAt;
    const registrationAccessToken = text("registration_access_token") ?? previous?.registrationAccessToken;
    const registrationClientUri = text("registration_client_uri") ?? previous?.registrationClientUri;
    const credentials: DcrCredentials = {
      key: target.key,
      providerName: this.#o.clientName,
      clientId,
      ...(clientSecret ? { clientSecret } : {}),
      tokenEndpointAuthMethod: text("token_endpoint_auth_method") ?? (clientSecret ? "client_secret_basic" : "none"),
      ...(registrationAccessToken ? { registrationAccessToken } : {}),
      ...(registrationClientUri ? { registrationClientUri } : {}),
      authorizationEndpoint: target.metadata.authorizationEndpoint,
      tokenEndpoint: target.metadata.tokenEndpoint,
      createdAt: previous?.createdAt ?? this.#now(),
      ...(expires ? { clientSecretExpiresAt: expires } : {}),
    };
    await this.#o.store.put(credentials);
    return credentials;
  }
}

/**
 * Whether the client configuration endpoint the server named (RFC 7592 registration_client_uri)
 * may be sent the registration's secrets: it must be on the origin of the registration endpoint
 * (which discovery checked: https, or loopback http outside production), with no credentials in
 * it. Elsewhere, the registration is treated as unmanaged: renewed by registering anew.
 */
function onRegistrationOrigin(uri: string, registrationEndpoint: string | undefined): boolean {
  if (registrationEndpoint === undefined || !URL.canParse(uri)) return false;
  const url = new URL(uri);
  return url.username === "" && url.password === "" && url.origin === new URL(registrationEndpoint).origin;
}

/** client_secret_basic unless the server offers only client_secret_post (or only public clients). */
function authMethodFor(metadata: UpstreamAuthMetadata): string {
  const offered = metadata.tokenEndpointAuthMethods ?? ["client_secret_basic"];
  if (offered.includes("client_secret_basic")) return "client_secret_basic";
  if (offered.includes("client_secret_post")) return "client_secret_post";
  return "none";
}

function sameClient(a: DcrCredentials, b: DcrCredentials): boolean {
  return a.clientId === b.clientId && a.clientSecret === b.clientSecret;
}

/** The OAuth error code of a refusal, for the message (never the description, which may echo input). */
function oauthError(body: Record<string, unknown>): string {
  return typeof body.error === "string" && /^[\x20-\x7e]{1,64}$/.test(body.error) ? ` ${body.error}` : "";
}

async function sendJson(url: string, method: "POST" | "PUT", body: unknown, bearer: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await reach(url, {
    method,
    headers: { "content-type": "application/json", accept: "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  const parsed = (await res.json().catch(() => null)) as unknown;
  return { status: res.status, body: parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {} };
}
