import { checkDate, isValidOAuthKey, validateOAuthEntry } from "../validate.js";
import type { OAuthEntry, OAuthStore, StoredOAuthEntry } from "../types.js";

const key = (model: string, id: string): string => `${model}:${id}`;
const live = (e: { expires_at: Date | null }, now: Date): boolean => e.expires_at === null || now < e.expires_at;

/** Every method does its work synchronously, so consume() is atomic; prune() is the sweep. */
export class MemoryOAuthStore implements OAuthStore {
  private readonly entries = new Map<string, { entry: OAuthEntry }>();
  /** Consumptions, apart from the entries: they outlive a destroy until they lapse. */
  private readonly consumptions = new Map<string, { at: Date; expires_at: Date | null }>();

  async upsert(entry: OAuthEntry): Promise<void> {
    validateOAuthEntry(entry);
    this.entries.set(key(entry.model, entry.id), { entry: copy(entry) });
  }

  #stored(k: string, entry: OAuthEntry): StoredOAuthEntry {
    return { entry: copy(entry), consumed_at: this.consumptions.get(k)?.at ?? null };
  }

  async find(model: string, id: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (!isValidOAuthKey(model, id)) return null;
    const k = key(model, id);
    const stored = this.entries.get(k);
    return stored && live(stored.entry, now) ? this.#stored(k, stored.entry) : null;
  }

  async findByUid(model: string, uid: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    for (const [k, stored] of this.entries) {
      if (stored.entry.model === model && stored.entry.uid === uid && live(stored.entry, now)) return this.#stored(k, stored.entry);
    }
    return null;
  }

  async consume(model: string, id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidOAuthKey(model, id)) return false;
    const k = key(model, id);
    const stored = this.entries.get(k);
    if (!stored || this.consumptions.has(k)) return false;
    this.consumptions.set(k, { at: new Date(at), expires_at: stored.entry.expires_at });
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
    for (const [k, consumption] of this.consumptions) if (!live(consumption, now)) this.consumptions.delete(k);
    return deleted;
  }
}

function copy(e: OAuthEntry): OAuthEntry {
  return { ...e, expires_at: e.expires_at ? new Date(e.expires_at) : null };
}
