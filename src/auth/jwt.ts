import { createRemoteJWKSet, importSPKI, jwtVerify, errors, type CryptoKey, type JWTVerifyGetKey } from "jose";
import type { JwtKeyConfig } from "../config/config.js";
import { isValidUserId } from "../domain.js";
import { BackendUnavailableError } from "../stores/types.js";

export type JwtCheck = { ok: true; userId: string } | { ok: false; status: "invalid" | "expired" };

export interface JwtVerifierOptions {
  key: JwtKeyConfig;
  issuer: string | null;
  audience: string | null;
  /** The longest lifetime accepted: exp - iat, or exp - now without iat (TOLLGATE_JWT_MAX_TTL_S). */
  maxTtlS: number;
  /** Injected clock (seconds), for tests. */
  now?: () => number;
}

/** How far ahead of our clock an issuer's iat or nbf may be. */
const JWT_CLOCK_SKEW_S = 60;

/**
 * Verifies session JWTs. The accepted algorithms follow from the key (HS256 for a secret,
 * RS/ES/PS for public keys), so `alg: none` and algorithm confusion are rejected by jose.
 * A session must carry exp, must not be issued (iat) or start (nbf) more than
 * JWT_CLOCK_SKEW_S ahead, must not live longer than maxTtlS, and its sub must be a user id.
 */
export class JwtVerifier {
  readonly #key: Uint8Array | JWTVerifyGetKey | Promise<CryptoKey>;
  readonly #algorithms: string[];
  readonly #options: JwtVerifierOptions;

  constructor(options: JwtVerifierOptions) {
    this.#options = options;
    switch (options.key.kind) {
      case "secret":
        this.#key = new TextEncoder().encode(options.key.secret);
        this.#algorithms = ["HS256"];
        break;
      case "jwks":
        this.#key = createRemoteJWKSet(new URL(options.key.url));
        this.#algorithms = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];
        break;
      case "public_key":
        this.#key = importSPKI(options.key.pem, options.key.algorithm);
        this.#algorithms = [options.key.algorithm];
        break;
    }
  }

  async verify(token: string): Promise<JwtCheck> {
    try {
      const key = await this.#key;
      const now = this.#options.now?.() ?? Date.now() / 1000;
      // jose checks exp's presence, the numeric dates and nbf (with the skew); its tolerance would
      // also stretch exp, so expiry is checked exactly here, as are iat and the lifetime.
      const { payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: this.#algorithms,
        requiredClaims: ["exp"],
        clockTolerance: JWT_CLOCK_SKEW_S,
        currentDate: new Date(now * 1000),
        ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience ? { audience: this.#options.audience } : {}),
      });
      const exp = payload.exp!;
      if (exp <= now) return { ok: false, status: "expired" };
      if (payload.iat !== undefined && payload.iat > now + JWT_CLOCK_SKEW_S) return { ok: false, status: "invalid" };
      if (exp - (payload.iat ?? now) > this.#options.maxTtlS) return { ok: false, status: "invalid" };
      if (!isValidUserId(payload.sub)) return { ok: false, status: "invalid" };
      return { ok: true, userId: payload.sub };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, status: "expired" };
      // The key server could not be asked: that says nothing about the token, so no 401.
      if (err instanceof errors.JWKSTimeout || (err instanceof TypeError && this.#options.key.kind === "jwks")) {
        throw new BackendUnavailableError("jwks", err);
      }
      return { ok: false, status: "invalid" };
    }
  }
}
