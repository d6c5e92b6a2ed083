import { createHash, randomBytes } from "node:crypto";
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { isLoopbackHost, type OidcConfig } from "../config/config.js";
import { isValidUserId } from "../domain.js";
import { RequestError } from "../errors.js";

/** What a sign-in under way remembers between the redirect to the provider and its answer (in a cookie). */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

/** The provider's answer on the callback (its query). */
export interface SignInAnswer {
  code?: unknown;
  state?: unknown;
  error?: unknown;
  iss?: unknown;
}

interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  token_endpoint_auth_methods_supported?: string[];
  id_token_signing_alg_values_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

/** Asymmetric algorithms only: an HS256 ID token would be signed with our own client secret. */
const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
const PROVIDER_TIMEOUT_MS = 5_000;

export interface OidcSignInOptions extends OidcConfig {
  /** TOLLGATE_PUBLIC_URL/oauth/callback. */
  redirectUri: string;
  /** Seconds, for the ID token's exp and iat (tests). */
  now?: () => number;
}

/**
 * Tollgate as an OpenID Connect relying party of the organisation's identity provider: discovery,
 * the authorization code flow with PKCE S256, state and nonce, the ID token verified with jose
 * (issuer, audience, signature from the provider's JWKS, expiry, nonce). The user is the ID
 * token's `sub`, the same user id the session JWTs carry.
 */
export class OidcSignIn {
  readonly #options: OidcSignInOptions;
  #metadata: Promise<{ metadata: ProviderMetadata; keys: JWTVerifyGetKey }> | undefined;

  constructor(options: OidcSignInOptions) {
    this.#options = options;
  }

  /** Where to send the browser, and what to remember until it comes back. */
  async begin(returnTo: string): Promise<{ location: string; pending: PendingSignIn }> {
    const { metadata } = await this.#discover();
    const pending: PendingSignIn = { state: random(), nonce: random(), verifier: random(), returnTo };
    const url = new URL(metadata.authorization_endpoint);
    const params = {
      response_type: "code",
      client_id: this.#options.clientId,
      redirect_uri: this.#options.redirectUri,
      scope: "openid",
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: createHash("sha256").update(pending.verifier).digest("base64url"),
      code_challenge_method: "S256",
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return { location: url.href, pending };
  }

  /** The signed-in user id, once the answer matches the pending sign-in and the ID token verifies. Throws RequestError. */
  async complete(answer: SignInAnswer, pending: PendingSignIn | null): Promise<string> {
    if (!pending || typeof answer.state !== "string" || answer.state !== pending.state) throw failed("state does not match this browser's sign-in");
    if (answer.error !== undefined) throw failed(`the identity provider answered ${typeof answer.error === "string" ? answer.error.slice(0, 100) : "an error"}`);
    if (typeof answer.code !== "string" || answer.code.length === 0) throw failed("no code");
    const { metadata, keys } = await this.#discover();
    // RFC 9207: where the provider names itself in the answer, it must be the one we asked.
    if (answer.iss !== undefined || metadata.authorization_response_iss_parameter_supported) {
      if (answer.iss !== metadata.issuer) throw failed("iss does not name the identity provider");
    }
    const idToken = await this.#redeem(metadata, answer.code, pending.verifier);
    let payload;
    try {
      ({ payload } = await jwtVerify(idToken, keys, {
        issuer: metadata.issuer,
        audience: this.#options.clientId,
        algorithms: (metadata.id_token_signing_alg_values_supported ?? ["RS256"]).filter((a) => ASYMMETRIC.includes(a)),
        requiredClaims: ["sub", "exp", "iat", "nonce"],
        clockTolerance: 60,
        ...(this.#options.now ? { currentDate: new Date(this.#options.now() * 1000) } : {}),
      }));
    } catch (err) {
      throw failed(`the ID token does not verify (${err instanceof Error ? err.message : "invalid"})`);
    }
    if (payload.nonce !== pending.nonce) throw failed("the ID token's nonce does not match");
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== this.#options.clientId) throw failed("the ID token's azp is not this client");
    if (!isValidUserId(payload.sub)) throw failed("the ID token's sub is not a user id Tollgate accepts");
    return payload.sub;
  }

  async #redeem(metadata: ProviderMetadata, code: string, verifier: string): Promise<string> {
    const { clientId, clientSecret, redirectUri } = this.#options;
    const body = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    // client_secret_basic is the default (OpenID Connect Core 9) unless only client_secret_post is offered.
    const methods = metadata.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
    if (methods.includes("client_secret_basic") || !methods.includes("client_secret_post")) {
      headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString("base64")}`;
    } else {
      body.set("client_id", clientId);
      body.set("client_secret", clientSecret);
    }
    const res = await providerFetch(metadata.token_endpoint, { method: "POST", headers, body });
    const tokens = (await res.json().catch(() => null)) as { id_token?: unknown; error?: unknown } | null;
    if (!res.ok || typeof tokens?.id_token !== "string") {
      throw failed(`the token endpoint answered ${res.status}${typeof tokens?.error === "string" ? ` ${tokens.error.slice(0, 100)}` : ""}`);
    }
    return tokens.id_token;
  }

  /** The provider's metadata and keys, fetched once (again after a failure). */
  #discover(): Promise<{ metadata: ProviderMetadata; keys: JWTVerifyGetKey }> {
    this.#metadata ??= (async () => {
      const issuer = this.#options.issuer;
      const res = await providerFetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, { headers: { accept: "application/json" } });
      if (!res.ok) throw new RequestError("backend_unavailable", `the identity provider's discovery answered ${res.status}`);
      const metadata = validMetadata(await res.json().catch(() => null), issuer);
      return { metadata, keys: createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: PROVIDER_TIMEOUT_MS }) };
    })();
    this.#metadata.catch(() => {
      this.#metadata = undefined;
    });
    return this.#metadata;
  }
}

/** The provider could not be reached: 503, not the user's fault. */
async function providerFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) });
  } catch {
    throw new RequestError("backend_unavailable", "the identity provider could not be reached; try again");
  }
}

function validMetadata(value: unknown, issuer: string): ProviderMetadata {
  const m = (value ?? {}) as Partial<Record<keyof ProviderMetadata, unknown>>;
  // OpenID Connect Discovery 4.3: the document names exactly the issuer it was fetched for.
  if (m.issuer !== issuer) throw new RequestError("backend_unavailable", "the identity provider's discovery names another issuer");
  const plainAllowed = new URL(issuer).protocol === "http:" && isLoopbackHost(new URL(issuer).hostname);
  for (const name of ["authorization_endpoint", "token_endpoint", "jwks_uri"] as const) {
    const url = typeof m[name] === "string" && URL.canParse(m[name]) ? new URL(m[name]) : null;
    if (!url || !(url.protocol === "https:" || (plainAllowed && url.protocol === "http:"))) {
      throw new RequestError("backend_unavailable", `the identity provider's discovery has no usable ${name}`);
    }
  }
  return m as ProviderMetadata;
}

const random = (): string => randomBytes(32).toString("base64url");

/** RFC 6749 2.3.1: the client id and secret are form-encoded before Basic. */
const formEncode = (s: string): string => new URLSearchParams({ s }).toString().slice(2);

function failed(why: string): RequestError {
  return new RequestError("invalid_request", `sign-in failed: ${why}; try again`);
}
