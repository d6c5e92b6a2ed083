import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Secrets Tollgate keeps at rest (upstream client secrets, registration access tokens, users'
// upstream tokens) are sealed with AES-256-GCM under the operator's keys
// (TOLLGATE_ENCRYPTION_KEYS=kid:base64(32 bytes),…): the first key seals, every key opens, so a
// key is rotated by putting the new one first and dropping the old one once nothing needs it.
// The caller passes what the secret belongs to (its store key) as additional authenticated data:
// a sealed value copied onto another record, or another field, does not open.

export interface EncryptionKey {
  /** Named in every ciphertext, so the right key opens it. */
  readonly kid: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

export interface SecretCipher {
  /** Seals `plaintext` under the first key, bound to `aad`. */
  encrypt(plaintext: string, aad: string): string;
  /** Opens what encrypt sealed with the same `aad`; SecretDecryptionError otherwise. */
  decrypt(sealed: string, aad: string): string;
}

export class SecretDecryptionError extends Error {
  override readonly name = "SecretDecryptionError";
}

/** A key id: short, and free of the separators of the sealed form and of the variable. */
export const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * TOLLGATE_ENCRYPTION_KEYS: comma-separated `kid:base64` entries, each key exactly 32 bytes, kids
 * unique. Problems are appended (every one), and the keys that parsed are returned.
 */
export function parseEncryptionKeys(raw: string, problems: string[]): EncryptionKey[] {
  const keys: EncryptionKey[] = [];
  for (const entry of raw.split(",").map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(":");
    const kid = colon < 0 ? entry : entry.slice(0, colon);
    const encoded = colon < 0 ? "" : entry.slice(colon + 1);
    // The kid is named, the key never: a problem must not put a secret in the log.
    if (!KEY_ID.test(kid)) problems.push(`TOLLGATE_ENCRYPTION_KEYS: each entry is kid:base64(32 bytes), with a kid of 1-32 of A-Z a-z 0-9 _ -; entry ${keys.length + 1} is not`);
    else if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || Buffer.from(encoded, "base64").length !== 32) problems.push(`TOLLGATE_ENCRYPTION_KEYS: the key of "${kid}" must be 32 bytes in base64 (openssl rand -base64 32)`);
    else if (keys.some((k) => k.kid === kid)) problems.push(`TOLLGATE_ENCRYPTION_KEYS names "${kid}" twice`);
    else keys.push({ kid, key: Buffer.from(encoded, "base64") });
  }
  return keys;
}

/** AES-256-GCM; sealed form `v1.<kid>.<iv>.<ciphertext>.<tag>` (base64url parts). */
export class AesGcmSecretCipher implements SecretCipher {
  readonly #keys: readonly EncryptionKey[];

  constructor(keys: readonly EncryptionKey[]) {
    if (keys.length === 0) throw new TypeError("AesGcmSecretCipher needs at least one key");
    for (const { kid, key } of keys) {
      if (!KEY_ID.test(kid)) throw new TypeError(`invalid key id: ${kid}`);
      if (key.length !== 32) throw new TypeError(`key ${kid} is not 32 bytes`);
    }
    this.#keys = keys.map(({ kid, key }) => ({ kid, key: Buffer.from(key) }));
  }

  encrypt(plaintext: string, aad: string): string {
    const { kid, key } = this.#keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return [VERSION, kid, iv.toString("base64url"), body.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  }

  decrypt(sealed: string, aad: string): string {
    const parts = typeof sealed === "string" ? sealed.split(".") : [];
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretDecryptionError("not a sealed secret");
    const [, kid, iv, body, tag] = parts as [string, string, string, string, string];
    const entry = this.#keys.find((k) => k.kid === kid);
    if (!entry) throw new SecretDecryptionError(`sealed under key "${kid}", which is not in TOLLGATE_ENCRYPTION_KEYS`);
    try {
      const decipher = createDecipheriv("aes-256-gcm", entry.key, Buffer.from(iv, "base64url"), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      throw new SecretDecryptionError(`sealed secret under key "${kid}" does not authenticate (tampered, or bound to another record)`);
    }
  }
}
