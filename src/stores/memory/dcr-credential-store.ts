import { DcrCredentialsNotFoundError, type DcrCredentialStore, type DcrCredentials, type DcrKey } from "../../upstreams/dcr-credentials.js";
import { copyDcrCredentials, copyDcrKey, dcrKeyId, dcrTtlMs, validateDcrCredentials, validateDcrKey } from "../../upstreams/dcr-validate.js";

/** The embedded default and the tests' store: one process's map, with the Redis backend's expiry. */
export class MemoryDcrCredentialStore implements DcrCredentialStore {
  readonly #entries = new Map<string, { credentials: DcrCredentials; expiresAtMs: number | null }>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async get(key: DcrKey): Promise<DcrCredentials> {
    validateDcrKey(key);
    const id = dcrKeyId(key);
    const entry = this.#entries.get(id);
    if (entry && entry.expiresAtMs !== null && this.#now() >= entry.expiresAtMs) this.#entries.delete(id);
    else if (entry) return copyDcrCredentials(entry.credentials);
    throw new DcrCredentialsNotFoundError(copyDcrKey(key));
  }

  async put(credentials: DcrCredentials): Promise<void> {
    validateDcrCredentials(credentials);
    const now = this.#now();
    const ttl = dcrTtlMs(credentials, now);
    const id = dcrKeyId(credentials.key);
    if (ttl !== null && ttl <= 0) this.#entries.delete(id);
    else this.#entries.set(id, { credentials: copyDcrCredentials(credentials), expiresAtMs: ttl === null ? null : now + ttl });
  }
}
