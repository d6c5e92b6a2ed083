import { checkDate, isValidHash, validateTempToken } from "../validate.js";
import { DuplicateError, type TempToken, type TempTokenStore } from "../types.js";

export class MemoryTempTokenStore implements TempTokenStore {
  private readonly byHash = new Map<string, TempToken>();

  async create(hash: string, userId: string, expiresAt: Date): Promise<void> {
    const token: TempToken = { hash, user_id: userId, expires_at: expiresAt };
    validateTempToken(token);
    if (this.byHash.has(hash)) throw new DuplicateError("temp token", "hash");
    this.byHash.set(hash, { hash, user_id: userId, expires_at: new Date(expiresAt) });
  }

  async consume(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    const token = this.byHash.get(hash);
    if (token === undefined) return null;
    this.byHash.delete(hash); // single use, and an expired token is dropped as well
    return now < token.expires_at ? { user_id: token.user_id } : null;
  }
}
