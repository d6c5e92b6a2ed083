import type { Collection, Db } from "mongodb";
import { checkDate, isValidHash, validateLiveTempTokenLimit, validateTempToken } from "../validate.js";
import { DuplicateError, type LiveTempTokenLimit, type TempToken, type TempTokenCreation, type TempTokenStore } from "../types.js";
import { guard, isDuplicateKey } from "./errors.js";
import { COLLECTIONS, factCollection, tempTokenSlotId, toTempTokenDoc, type TempTokenDoc } from "./schema.js";

/** Needs the indexes from ensureIndexes(db). */
export class MongoTempTokenStore implements TempTokenStore {
  private readonly tokens: Collection<TempTokenDoc>;

  constructor(db: Db) {
    this.tokens = factCollection<TempTokenDoc>(db, COLLECTIONS.tempTokens);
  }

  /**
   * A user's tokens occupy slots 0..maxLive-1, the slot being part of the _id. Expired tokens of
   * the user are deleted first (freeing their slots), then the token is inserted into a free slot;
   * two concurrent creates aiming at one slot collide on the _id, and the loser tries the next.
   * A count-then-insert would let concurrent creates all see room; the unique _id cannot.
   */
  async create(token: TempToken, limit: LiveTempTokenLimit): Promise<TempTokenCreation> {
    validateTempToken(token);
    validateLiveTempTokenLimit(limit);
    const { user_id } = token;
    return guard("temp token", async () => {
      await this.tokens.deleteMany({ user_id, expires_at: { $lte: limit.now } });
      const held = new Set((await this.tokens.find({ user_id }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
      for (let slot = 0; slot < limit.maxLive; slot++) {
        if (held.has(tempTokenSlotId(slot, user_id))) continue;
        try {
          await this.tokens.insertOne(toTempTokenDoc(token, slot));
          return { created: true };
        } catch (e) {
          if (!isDuplicateKey(e)) throw e;
          // The slot was taken meanwhile, or the hash exists (FerretDB does not say which key).
        }
      }
      if ((await this.tokens.countDocuments({ hash: token.hash }, { limit: 1 })) > 0) throw new DuplicateError("temp token", "hash");
      const [oldest] = await this.tokens.find({ user_id, expires_at: { $gt: limit.now } }).sort({ expires_at: 1 }).limit(1).toArray();
      // No live token left: every slot was freed since it was tried. Nothing was stored; "now" asks for a retry.
      return { created: false, oldest_expires_at: oldest?.expires_at ?? new Date(limit.now) };
    });
  }

  async peek(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    const doc = await guard("temp token", () => this.tokens.findOne({ hash }));
    return doc !== null && now < doc.expires_at ? { user_id: doc.user_id } : null;
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
      const res = await this.tokens.deleteOne({ _id: doc._id, hash });
      if (res.deletedCount !== 1) return null; // another caller consumed it first
      return now < doc.expires_at ? { user_id: doc.user_id } : null; // expired: removed, and refused
    });
  }

  /** Where the server has TTL indexes (MongoDB) they delete expired tokens too; FerretDB 1.x needs this. */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const res = await guard("temp token", () => this.tokens.deleteMany({ expires_at: { $lte: now } }));
    return res.deletedCount;
  }
}
