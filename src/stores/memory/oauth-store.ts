import { checkDate, isValidOAuthKey, validateOAuthEntry } from "../validate.js";
import type { OAuthEntry, OAuthStore, StoredOAuthEntry } from "../types.js";

const key = (model: string, id: string): string => `${model}:${id}`;
const live = (e: OAuthEntry, now: Date): boolean => e.expires_at === null || now < e.expires_at;

/** Every method does its work synchronously, so consume() is atomic; prune() is the sweep. */
export class MemoryOAuthStore implements OAuthStore {
  private readonly entries = new Map<string, StoredOAuthEntry>();

  async upsert(entry: OAuthEntry): Promise<void> {
    validateOAuthEntry(entry);
    const k = key(entry.model, entry.id);
    const consumed_at = this.entries.get(k)?.consumed_at ?? null;
    this.entries.set(k, { entry: copy(entry), consumed_at });
  }

  async find(model: string, id: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (!isValidOAuthKey(model, id)) return null;
    const stored = this.entries.get(key(model, id));
    return stored && live(stored.entry, now) ? { entry: copy(stored.entry), consumed_at: stored.consumed_at } : null;
  }

  async findByUid(model: string, uid: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    for (const stored of this.entries.values()) {
      if (stored.entry.model === model && stored.entry.uid === uid && live(stored.entry, now)) return { entry: copy(stored.entry), consumed_at: stored.consumed_at };
    }
    return null;
  }

  async consume(model: string, id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidOAuthKey(model, id)) return false;
    const stored = this.entries.get(key(model, id));
    if (!stored || stored.consumed_at !== null) return false;
    stored.consumed_at = new Date(at);
    return true;
  }

  async destroy(model: string, id: string): Promise<void> {
    if (isValidOAuthKey(model, id)) this.entries.delete(key(model, id));
  }

  async deleteByGrant(model: string, grantId: string): Promise<OAuthEntry[]> {
    const deleted: OAuthEntry[] = [];
    for (const [k, stored] of this.entries) {
      if (stored.entry.model === model && stored.entry.grant_id === grantId) {
        this.entries.delete(k);
        deleted.push(copy(stored.entry));
      }
    }
    return deleted;
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    let deleted = 0;
    for (const [k, stored] of this.entries) {
      if (!live(stored.entry, now)) {
        this.entries.delete(k);
        deleted++;
      }
    }
    return deleted;
  }
}

function copy(e: OAuthEntry): OAuthEntry {
  return { ...e, expires_at: e.expires_at ? new Date(e.expires_at) : null };
}
