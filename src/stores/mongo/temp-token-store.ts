import type { Collection, Db } from "mongodb";
import { checkDate, isValidHash, validateTempToken } from "../validate.js";
import type { TempToken, TempTokenStore } from "../types.js";
import { guard } from "./errors.js";
import { COLLECTIONS, toTempTokenDoc, type TempTokenDoc } from "./schema.js";

/** Needs the indexes from ensureIndexes(db). */
export class MongoTempTokenStore implements TempTokenStore {
  private readonly tokens: Collection<TempTokenDoc>;

  constructor(db: Db) {
    this.tokens = db.collection<TempTokenDoc>(COLLECTIONS.tempTokens);
  }

  async create(hash: string, userId: string, expiresAt: Date): Promise<void> {
    const token: TempToken = { hash, user_id: userId, expires_at: expiresAt };
    validateTempToken(token);
    await guard("temp token", () => this.tokens.insertOne(toTempTokenDoc(token)));
  }

  /**
   * Exactly once, on MongoDB and on FerretDB alike: the single deleteOne that removes the document
   * (deletedCount 1) is the one winner. A findOneAndDelete would be one round trip on MongoDB, but
   * FerretDB 1.x implements it as query-then-delete and hands the document to several concurrent
   * callers; its delete count, in contrast, is exact. The document is immutable, so reading it
   * before the delete is safe.
   */
  async consume(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    return guard("temp token", async () => {
      const doc = await this.tokens.findOne({ hash });
      if (doc === null) return null;
      const res = await this.tokens.deleteOne({ _id: doc._id });
      if (res.deletedCount !== 1) return null; // another caller consumed it first
      return now < doc.expires_at ? { user_id: doc.user_id } : null; // expired: removed, and refused
    });
  }
}
