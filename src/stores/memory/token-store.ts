import { isValidUserId } from "../../domain.js";
import { applyTokenPatch, checkDate, isValidHash, isValidId, validateTokenPatch, validateTokenRecord } from "../validate.js";
import { DuplicateError, type TokenPatch, type TokenRecord, type TokenStore } from "../types.js";

/** Records are copied on the way in and on the way out: callers never alias stored state. */
export class MemoryTokenStore implements TokenStore {
  private readonly byId = new Map<string, TokenRecord>();
  private readonly idByHash = new Map<string, string>();

  async create(record: TokenRecord): Promise<void> {
    validateTokenRecord(record);
    if (this.byId.has(record.id)) throw new DuplicateError("token", "id");
    if (this.idByHash.has(record.hash)) throw new DuplicateError("token", "hash");
    this.byId.set(record.id, structuredClone(record));
    this.idByHash.set(record.hash, record.id);
  }

  async findByHash(hash: string): Promise<TokenRecord | null> {
    if (!isValidHash(hash)) return null;
    const id = this.idByHash.get(hash);
    return id === undefined ? null : this.read(id);
  }

  async get(id: string): Promise<TokenRecord | null> {
    return isValidId(id) ? this.read(id) : null;
  }

  async listByUser(userId: string): Promise<TokenRecord[]> {
    if (!isValidUserId(userId)) return [];
    return [...this.byId.values()]
      .filter((r) => r.user_id === userId)
      .sort(newestFirst)
      .map((r) => structuredClone(r));
  }

  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    validateTokenPatch(patch);
    const current = isValidId(id) ? this.byId.get(id) : undefined;
    if (current === undefined) return null;
    const next = applyTokenPatch(current, patch);
    this.byId.set(id, structuredClone(next));
    return structuredClone(next);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    const current = isValidId(id) ? this.byId.get(id) : undefined;
    if (current === undefined) return false;
    if (current.revoked_at === null) current.revoked_at = new Date(at);
    return true;
  }

  async touch(id: string, at: Date): Promise<void> {
    checkDate(at, "at");
    const current = isValidId(id) ? this.byId.get(id) : undefined;
    if (current === undefined) return;
    if (current.last_used_at === null || current.last_used_at < at) current.last_used_at = new Date(at);
  }

  private read(id: string): TokenRecord | null {
    const r = this.byId.get(id);
    return r === undefined ? null : structuredClone(r);
  }
}

/** created_at descending, ties by id ascending: the order every backend uses. */
export function newestFirst(a: TokenRecord, b: TokenRecord): number {
  const d = b.created_at.getTime() - a.created_at.getTime();
  return d !== 0 ? d : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
