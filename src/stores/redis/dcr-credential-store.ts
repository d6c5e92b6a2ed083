import type { RedisClient } from "./client.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { BackendUnavailableError } from "../types.js";
import { DcrCredentialsNotFoundError, type DcrCredentialStore, type DcrCredentials, type DcrKey } from "../../upstreams/dcr-credentials.js";
import { copyDcrCredentials, copyDcrKey, dcrKeyId, dcrTtlMs, validateDcrCredentials, validateDcrKey } from "../../upstreams/dcr-validate.js";
import { SecretDecryptionError, type SecretCipher } from "../../upstreams/encryption.js";

/** The fields sealed at rest; every other field is stored as given. */
const SEALED = ["clientSecret", "registrationAccessToken"] as const;
type Sealed = (typeof SEALED)[number];

/**
 * The production store, shared by every replica: one string key per registration holding its JSON,
 * the client secret and registration access token sealed (SecretCipher, bound to the registration's
 * key and the field's name). The key expires 60 s before the client secret does (none when it
 * never does); a put of a registration already within that margin deletes it.
 */
export class RedisDcrCredentialStore implements DcrCredentialStore {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;
  readonly #cipher: SecretCipher;
  readonly #now: () => number;

  constructor(redis: RedisClient, cipher: SecretCipher, options: { namespace?: string; now?: () => number } = {}) {
    this.#redis = redis;
    this.#cipher = cipher;
    this.#keys = redisKeys(options.namespace);
    this.#now = options.now ?? Date.now;
  }

  async get(key: DcrKey): Promise<DcrCredentials> {
    validateDcrKey(key);
    const id = dcrKeyId(key);
    const raw = await this.#call(() => this.#redis.get(this.#keys.dcrCredentials(id)));
    if (raw === null) throw new DcrCredentialsNotFoundError(copyDcrKey(key));
    const stored = JSON.parse(raw) as Record<string, unknown> & DcrCredentials;
    if (dcrKeyId(stored.key) !== id) throw new SecretDecryptionError("the stored registration belongs to another key");
    for (const field of SEALED) {
      const sealed = stored[field];
      if (sealed !== undefined) (stored as Record<Sealed, string>)[field] = this.#cipher.decrypt(sealed, aad(id, field));
    }
    return copyDcrCredentials(stored);
  }

  async put(credentials: DcrCredentials): Promise<void> {
    validateDcrCredentials(credentials);
    const id = dcrKeyId(credentials.key);
    const redisKey = this.#keys.dcrCredentials(id);
    const ttl = dcrTtlMs(credentials, this.#now());
    if (ttl !== null && ttl <= 0) {
      await this.#call(() => this.#redis.del(redisKey));
      return;
    }
    const stored: Record<string, unknown> = { ...copyDcrCredentials(credentials) };
    for (const field of SEALED) {
      const secret = credentials[field];
      if (secret !== undefined) stored[field] = this.#cipher.encrypt(secret, aad(id, field));
    }
    const value = JSON.stringify(stored);
    // SET without KEEPTTL: an overwrite also replaces (or removes) the old expiry.
    await this.#call(() => (ttl === null ? this.#redis.set(redisKey, value) : this.#redis.set(redisKey, value, "PX", Math.ceil(ttl))));
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}

/** A sealed field opens only on the registration and under the field it was sealed for. */
const aad = (keyId: string, field: Sealed): string => `dcr\n${keyId}\n${field}`;
