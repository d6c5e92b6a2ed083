import { createRemoteJWKSet, importSPKI, jwtVerify, errors, type CryptoKey, type JWTVerifyGetKey } from "jose";
import type { JwtKeyConfig } from "../config/config.js";
import { BackendUnavailableError } from "../stores/types.js";

export type JwtCheck = { ok: true; userId: string } | { ok: false; status: "invalid" | "expired" };

export interface JwtVerifierOptions {
  key: JwtKeyConfig;
  issuer: string | null;
  audience: string | null;
  /** Injected clock (seconds), for tests. */
  now?: () => number;
}

/**
 * Verifies session JWTs. The accepted algorithms follow from the key (HS256 for a secret,
 * RS/ES/PS for public keys), so `alg: none` and algorithm confusion are rejected by jose.
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
      const { payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: this.#algorithms,
        ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience ? { audience: this.#options.audience } : {}),
        ...(this.#options.now ? { currentDate: new Date(this.#options.now() * 1000) } : {}),
      });
      if (typeof payload.sub !== "string" || payload.sub === "") return { ok: false, status: "invalid" };
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
