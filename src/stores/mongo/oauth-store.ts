import type { Collection, Db } from "mongodb";
import { checkDate, isValidOAuthKey, validateOAuthEntry } from "../validate.js";
import type { OAuthEntry, OAuthStore, StoredOAuthEntry } from "../types.js";
import { guard, isDuplicateKey } from "./errors.js";
import { COLLECTIONS, factCollection, type OAuthConsumedDoc, type OAuthDoc } from "./schema.js";

const docId = (model: string, id: string): string => `${model}:${id}`;
const live = (d: { expires_at: Date | null }, now: Date): boolean => d.expires_at === null || now < d.expires_at;

/** Needs the indexes from ensureIndexes(db). */
export class MongoOAuthStore implements OAuthStore {
  private readonly entries: Collection<OAuthDoc>;
  private readonly consumed: Collection<OAuthConsumedDoc>;

  constructor(db: Db) {
    this.entries = factCollection<OAuthDoc>(db, COLLECTIONS.oauth);
    this.consumed = factCollection<OAuthConsumedDoc>(db, COLLECTIONS.oauthConsumed);
  }

  async upsert(entry: OAuthEntry): Promise<void> {
    validateOAuthEntry(entry);
    const doc: OAuthDoc = { _id: docId(entry.model, entry.id), ...entry, expires_at: entry.expires_at ? new Date(entry.expires_at) : null };
    await guard("oauth entry", () => this.entries.replaceOne({ _id: doc._id }, doc, { upsert: true }));
  }

  async find(model: string, id: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (!isValidOAuthKey(model, id)) return null;
    return guard("oauth entry", async () => this.#stored(await this.entries.findOne({ _id: docId(model, id) }), now));
  }

  async findByUid(model: string, uid: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (typeof uid !== "string" || !isValidOAuthKey(model, uid)) return null;
    return guard("oauth entry", async () => this.#stored(await this.entries.findOne({ model, uid }), now));
  }

  /**
   * Exactly once, on MongoDB and on FerretDB alike: the consumption is an insert keyed by the
   * entry's _id, and of any number of concurrent inserts of one _id exactly one succeeds.
   * (FerretDB 1.x runs findOneAndUpdate as a query and then an update, so a conditional update
   * could hand the same unconsumed entry to several callers; its unique _id holds.)
   */
  async consume(model: string, id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidOAuthKey(model, id)) return false;
    const _id = docId(model, id);
    return guard("oauth entry", async () => {
      const entry = await this.entries.findOne({ _id });
      if (entry === null) return false;
      try {
        await this.consumed.insertOne({ _id, consumed_at: new Date(at), expires_at: entry.expires_at });
        return true;
      } catch (e) {
        if (isDuplicateKey(e)) return false;
        throw e;
      }
    });
  }

  async destroy(model: string, id: string): Promise<void> {
    if (!isValidOAuthKey(model, id)) return;
    const _id = docId(model, id);
    // The consumption stays (until it lapses): deleting it would let a redemption that read the
    // entry before this delete insert a second consumption.
    await guard("oauth entry", () => this.entries.deleteOne({ _id }));
  }

  async deleteByGrant(model: string, grantId: string): Promise<OAuthEntry[]> {
    if (typeof grantId !== "string" || !isValidOAuthKey(model, grantId)) return [];
    return guard("oauth entry", async () => {
      const docs = await this.entries.find({ model, grant_id: grantId }).toArray();
      if (docs.length === 0) return [];
      const ids = docs.map((d) => d._id);
      await this.entries.deleteMany({ _id: { $in: ids } }); // consumptions stay, as in destroy()
      return docs.map(fromDoc);
    });
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    return guard("oauth entry", async () => {
      const res = await this.entries.deleteMany({ expires_at: { $ne: null, $lte: now } });
      await this.consumed.deleteMany({ expires_at: { $ne: null, $lte: now } });
      return res.deletedCount;
    });
  }

  async #stored(doc: OAuthDoc | null, now: Date): Promise<StoredOAuthEntry | null> {
    if (doc === null || !live(doc, now)) return null;
    const consumption = await this.consumed.findOne({ _id: doc._id });
    return { entry: fromDoc(doc), consumed_at: consumption?.consumed_at ?? null };
  }
}

function fromDoc(d: OAuthDoc): OAuthEntry {
  return { model: d.model, id: d.id, payload: d.payload, grant_id: d.grant_id ?? null, uid: d.uid ?? null, token_id: d.token_id ?? null, expires_at: d.expires_at ?? null };
}
