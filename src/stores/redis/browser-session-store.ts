import { REDIS_EXPIRY_SLACK_MS, type RedisClient } from "./client.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { checkDate, isValidHash, validateBrowserSession } from "../validate.js";
import { BackendUnavailableError, DuplicateError, type BrowserSession, type BrowserSessionStore } from "../types.js";

/** What a session's key holds. */
interface StoredSession {
  user_id: string;
  expires_at: number;
}

/**
 * One key per session (SET NX, so a hash is never overwritten), expiring with the session in
 * Redis time as well: expiry is decided at read time with our clock, and Redis's own expiry only
 * frees the memory (an hour late, so a Redis clock ahead of ours cannot end a session early).
 */
export class RedisBrowserSessionStore implements BrowserSessionStore {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;

  constructor(redis: RedisClient, options: { namespace?: string } = {}) {
    this.#redis = redis;
    this.#keys = redisKeys(options.namespace);
  }

  async create(session: BrowserSession): Promise<void> {
    validateBrowserSession(session);
    const value: StoredSession = { user_id: session.user_id, expires_at: session.expires_at.getTime() };
    const set = await this.#call(() => this.#redis.set(this.#keys.browserSession(session.hash), JSON.stringify(value), "PXAT", value.expires_at + REDIS_EXPIRY_SLACK_MS, "NX"));
    if (set !== "OK") throw new DuplicateError("browser session", "hash");
  }

  async get(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    const raw = await this.#call(() => this.#redis.get(this.#keys.browserSession(hash)));
    if (raw === null) return null;
    const session = JSON.parse(raw) as StoredSession;
    return now.getTime() < session.expires_at ? { user_id: session.user_id } : null;
  }

  async revoke(hash: string): Promise<boolean> {
    if (!isValidHash(hash)) return false;
    return (await this.#call(() => this.#redis.del(this.#keys.browserSession(hash)))) === 1;
  }

  /** Redis expires the keys itself. */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    return 0;
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}
