import { checkDate, isValidHash, validateLiveTempTokenLimit, validateTempToken } from "../validate.js";
import { DuplicateError, type LiveTempTokenLimit, type TempToken, type TempTokenCreation, type TempTokenStore } from "../types.js";

/** Every method does its work synchronously, so each is atomic; prune() is the sweep. */
export class MemoryTempTokenStore implements TempTokenStore {
  private readonly byHash = new Map<string, TempToken>();
  /** user id → hashes of that user's tokens */
  private readonly byUser = new Map<string, Set<string>>();

  async create(token: TempToken, limit: LiveTempTokenLimit): Promise<TempTokenCreation> {
    validateTempToken(token);
    validateLiveTempTokenLimit(limit);
    if (this.byHash.has(token.hash)) throw new DuplicateError("temp token", "hash");
    const live: TempToken[] = [];
    for (const hash of this.byUser.get(token.user_id) ?? []) {
      const held = this.byHash.get(hash)!;
      if (limit.now < held.expires_at) live.push(held);
      else this.#delete(held);
    }
    if (live.length >= limit.maxLive) {
      const oldest = Math.min(...live.map((t) => t.expires_at.getTime()));
      return { created: false, oldest_expires_at: new Date(oldest) };
    }
    const copy = { hash: token.hash, user_id: token.user_id, expires_at: new Date(token.expires_at) };
    this.byHash.set(copy.hash, copy);
    let hashes = this.byUser.get(copy.user_id);
    if (hashes === undefined) this.byUser.set(copy.user_id, (hashes = new Set()));
    hashes.add(copy.hash);
    return { created: true };
  }

  async peek(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    const token = isValidHash(hash) ? this.byHash.get(hash) : undefined;
    return token !== undefined && now < token.expires_at ? { user_id: token.user_id } : null;
  }

  async consume(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    const token = this.byHash.get(hash);
    if (token === undefined) return null;
    this.#delete(token); // single use, and an expired token is dropped as well
    return now < token.expires_at ? { user_id: token.user_id } : null;
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    let deleted = 0;
    for (const token of this.byHash.values()) {
      if (now >= token.expires_at) {
        this.#delete(token);
        deleted++;
      }
    }
    return deleted;
  }

  #delete(token: TempToken): void {
    this.byHash.delete(token.hash);
    const hashes = this.byUser.get(token.user_id);
    hashes?.delete(token.hash);
    if (hashes?.size === 0) this.byUser.delete(token.user_id);
  }
}
