import { checkDate, isValidHash, validateBrowserSession } from "../validate.js";
import { DuplicateError, type BrowserSession, type BrowserSessionStore } from "../types.js";

/** One process's sessions (the embedded default); every method is synchronous inside, so atomic. */
export class MemoryBrowserSessionStore implements BrowserSessionStore {
  readonly #byHash = new Map<string, BrowserSession>();

  async create(session: BrowserSession): Promise<void> {
    validateBrowserSession(session);
    if (this.#byHash.has(session.hash)) throw new DuplicateError("browser session", "hash");
    this.#byHash.set(session.hash, { ...session, created_at: new Date(session.created_at), expires_at: new Date(session.expires_at) });
  }

  async get(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    const session = isValidHash(hash) ? this.#byHash.get(hash) : undefined;
    return session !== undefined && now < session.expires_at ? { user_id: session.user_id } : null;
  }

  async revoke(hash: string): Promise<boolean> {
    return isValidHash(hash) && this.#byHash.delete(hash);
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    let deleted = 0;
    for (const session of this.#byHash.values()) {
      if (now >= session.expires_at && this.#byHash.delete(session.hash)) deleted++;
    }
    return deleted;
  }
}
