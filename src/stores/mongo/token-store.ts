import type { Collection, Db } from "mongodb";
import { isValidUserId } from "../../domain.js";
import { applyTokenPatch, checkDate, isValidHash, isValidId, validateTokenPatch, validateTokenRecord } from "../validate.js";
import type { TokenPatch, TokenRecord, TokenStore } from "../types.js";
import { guard } from "./errors.js";
import { COLLECTIONS, factCollection, fromTokenDoc, toGrantDoc, toTokenDoc, type TokenDoc } from "./schema.js";

/** Needs the indexes from ensureIndexes(db): uniqueness of id and hash is enforced by them. */
export class MongoTokenStore implements TokenStore {
  private readonly tokens: Collection<TokenDoc>;

  constructor(db: Db) {
    this.tokens = factCollection<TokenDoc>(db, COLLECTIONS.tokens);
  }

  async create(record: TokenRecord): Promise<void> {
    validateTokenRecord(record);
    await guard("token", () => this.tokens.insertOne(toTokenDoc(record)));
  }

  async findByHash(hash: string): Promise<TokenRecord | null> {
    if (!isValidHash(hash)) return null;
    const doc = await guard("token", () => this.tokens.findOne({ hash }));
    return doc ? fromTokenDoc(doc) : null;
  }

  async get(id: string): Promise<TokenRecord | null> {
    if (!isValidId(id)) return null;
    const doc = await guard("token", () => this.tokens.findOne({ id }));
    return doc ? fromTokenDoc(doc) : null;
  }

  async listByUser(userId: string): Promise<TokenRecord[]> {
    if (!isValidUserId(userId)) return [];
    const docs = await guard("token", () => this.tokens.find({ user_id: userId }).sort({ created_at: -1, id: 1 }).toArray());
    return docs.map(fromTokenDoc);
  }

  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    validateTokenPatch(patch);
    const current = await this.get(id);
    if (current === null) return null;
    // Validates the patched record as a whole (kind is immutable, so reading it first is safe).
    const next = applyTokenPatch(current, patch);
    const $set: Partial<TokenDoc> = {};
    if (patch.name !== undefined) $set.name = next.name;
    if (patch.grants !== undefined) $set.grants = next.grants.map(toGrantDoc);
    if (Object.keys($set).length === 0) return current;
    const doc = await guard("token", () => this.tokens.findOneAndUpdate({ id }, { $set }, { returnDocument: "after" }));
    return doc ? fromTokenDoc(doc) : null;
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidId(id)) return false;
    return guard("token", async () => {
      const res = await this.tokens.updateOne({ id, revoked_at: null }, { $set: { revoked_at: at } });
      if (res.matchedCount > 0) return true;
      return (await this.tokens.countDocuments({ id }, { limit: 1 })) > 0;
    });
  }

  async touch(id: string, at: Date): Promise<void> {
    checkDate(at, "at");
    if (!isValidId(id)) return;
    // $max: concurrent touches arriving out of order never move last_used_at backwards (null < any date).
    await guard("token", () => this.tokens.updateOne({ id }, { $max: { last_used_at: at } }));
  }
}
