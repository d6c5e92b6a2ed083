import type { Collection, Db } from "mongodb";
import { isValidUserId } from "../../domain.js";
import { applyTokenPatch, checkDate, isValidHash, isValidId, validateTokenPatch, validateTokenRecord } from "../validate.js";
import type { TokenPatch, TokenRecord, TokenStore } from "../types.js";
import { guard, isDuplicateKey } from "./errors.js";
import { COLLECTIONS, factCollection, fromTokenDoc, toGrantDoc, toTokenDoc, type TokenDoc, type TokenHashDoc, type TokenRevocationDoc, type TokenUsageDoc } from "./schema.js";
import { toTokenHashDoc } from "./token-hashes.js";

/**
 * Needs the indexes from ensureIndexes(db): uniqueness of id and hash is enforced by them.
 *
 * FerretDB 1.x runs every update as: read the document, modify it, write all of it back, with
 * nothing between the read and the write; of two updates of one document at once, one is lost
 * (measured: a touch racing a revoke undid 90 of 200 revokes). So nothing is ever updated in
 * place that a decision depends on: a revocation is an insert into token_revocations (`_id` = token
 * id, atomic everywhere) that no other write can undo, and last use (written on the decision
 * path) lives in token_usage. The token document itself changes only by an admin's rename or
 * new grants. Documents written by older versions may hold revoked_at and last_used_at
 * themselves; reads merge them.
 *
 * A token is found by its hash through token_hashes (`_id` = hash, see token-hashes.ts): every
 * read of findByHash is by _id, the only filter FerretDB 1.x does not answer by decoding the
 * whole collection. Its entry is inserted before the token document, so a token that exists
 * always has one (an interrupted create leaves an entry that points at nothing, and its hash is
 * random: never used again). A token of an older release has none until backfillTokenHashes runs
 * at the next start: findByHash falls back to the old read by hash, and adds the entry.
 *
 * For the same reason a token document's _id is the token's id (get, update and revoke read it by
 * _id: the admin's revoke reads the token first). Documents of older releases have an ObjectId;
 * a token not found by _id is looked for by its id field.
 */
export class MongoTokenStore implements TokenStore {
  private readonly tokens: Collection<TokenDoc>;
  private readonly revocations: Collection<TokenRevocationDoc>;
  private readonly usage: Collection<TokenUsageDoc>;
  private readonly hashes: Collection<TokenHashDoc>;

  constructor(db: Db) {
    this.hashes = factCollection<TokenHashDoc>(db, COLLECTIONS.tokenHashes);
    this.tokens = factCollection<TokenDoc>(db, COLLECTIONS.tokens);
    this.revocations = factCollection<TokenRevocationDoc>(db, COLLECTIONS.tokenRevocations);
    this.usage = factCollection<TokenUsageDoc>(db, COLLECTIONS.tokenUsage);
  }

  async create(record: TokenRecord): Promise<void> {
    validateTokenRecord(record);
    const { revoked_at, last_used_at } = record;
    const doc: Required<Omit<TokenDoc, "oauth">> & Pick<TokenDoc, "oauth"> = { ...toTokenDoc({ ...record, revoked_at: null, last_used_at: null }), _id: record.id };
    const entry = toTokenHashDoc(doc);
    await guard("token", () => this.hashes.insertOne(entry));
    try {
      await guard("token", () => this.tokens.insertOne(doc));
    } catch (e) {
      // A duplicate id, or a hash held by a token without an entry: that hash is not ours to claim.
      await this.hashes.deleteOne({ _id: entry._id, token: entry.token }).catch(() => {});
      throw e;
    }
    if (revoked_at) await this.#insertRevocation(record.id, revoked_at);
    if (last_used_at) await this.touch(record.id, last_used_at);
  }

  async findByHash(hash: string): Promise<TokenRecord | null> {
    if (!isValidHash(hash)) return null;
    return guard("token", async () => {
      const entry = await this.hashes.findOne({ _id: hash });
      if (entry === null) return this.#findUnindexed(hash);
      const [doc, revocation, usage] = await Promise.all([
        this.tokens.findOne({ _id: entry.token }),
        this.revocations.findOne({ _id: entry.id }),
        this.usage.findOne({ _id: entry.id }),
      ]);
      return doc !== null && doc.hash === hash ? merged(doc, revocation?.revoked_at, usage?.last_used_at) : null;
    });
  }

  /** A token without an entry (written by an older release): read by hash, and its entry added. */
  async #findUnindexed(hash: string): Promise<TokenRecord | null> {
    const doc = await this.tokens.findOne({ hash });
    if (doc === null || doc._id === undefined) return null;
    await this.hashes.insertOne(toTokenHashDoc({ _id: doc._id, id: doc.id, hash })).catch((e: unknown) => {
      if (!isDuplicateKey(e)) throw e;
    });
    return (await this.#complete([doc]))[0]!;
  }

  async get(id: string): Promise<TokenRecord | null> {
    if (!isValidId(id)) return null;
    const doc = await this.#byId(id);
    return doc ? (await this.#complete([doc]))[0]! : null;
  }

  /** The token document with this id: by _id, else (an older release's document) by its id field. */
  #byId(id: string): Promise<TokenDoc | null> {
    return guard("token", async () => (await this.tokens.findOne({ _id: id })) ?? (await this.tokens.findOne({ id })));
  }

  async listByUser(userId: string): Promise<TokenRecord[]> {
    if (!isValidUserId(userId)) return [];
    const docs = await guard("token", () => this.tokens.find({ user_id: userId }).sort({ created_at: -1, id: 1 }).toArray());
    return this.#complete(docs);
  }

  async update(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    validateTokenPatch(patch);
    if (!isValidId(id)) return null;
    const found = await this.#byId(id);
    if (found === null) return null;
    const current = (await this.#complete([found]))[0]!;
    // Validates the patched record as a whole (kind is immutable, so reading it first is safe).
    const next = applyTokenPatch(current, patch);
    const $set: Partial<TokenDoc> = {};
    if (patch.name !== undefined) $set.name = next.name;
    if (patch.grants !== undefined) $set.grants = next.grants.map(toGrantDoc);
    if (Object.keys($set).length === 0) return current;
    const doc = await guard("token", () => this.tokens.findOneAndUpdate({ _id: found._id! }, { $set }, { returnDocument: "after" }));
    return doc ? (await this.#complete([doc]))[0]! : null;
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidId(id)) return false;
    if ((await this.#byId(id)) === null) return false;
    await this.#insertRevocation(id, at);
    return true;
  }

  async touch(id: string, at: Date): Promise<void> {
    checkDate(at, "at");
    if (!isValidId(id)) return;
    // $max: touches arriving out of order never move last_used_at backwards. Two first touches
    // at once may both insert (FerretDB): the loser's duplicate key means the document exists now.
    const write = () => this.usage.updateOne({ _id: id }, { $max: { last_used_at: at } }, { upsert: true });
    await guard("token", async () => {
      try {
        await write();
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
        await write();
      }
    });
  }

  /** The first revocation stands: a second one is a duplicate key, and that is success. */
  async #insertRevocation(id: string, at: Date): Promise<void> {
    await guard("token", async () => {
      try {
        await this.revocations.insertOne({ _id: id, revoked_at: at });
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
      }
    });
  }

  /** Records from token documents, with their revocation and last use (one read of each, by _id). */
  async #complete(docs: TokenDoc[]): Promise<TokenRecord[]> {
    if (docs.length === 0) return [];
    const ids = docs.map((d) => d.id);
    const filter = ids.length === 1 ? { _id: ids[0]! } : { _id: { $in: ids } };
    const [revocations, usage] = await guard("token", () => Promise.all([this.revocations.find(filter).toArray(), this.usage.find(filter).toArray()]));
    const revokedAt = new Map(revocations.map((r) => [r._id, r.revoked_at]));
    const usedAt = new Map(usage.map((u) => [u._id, u.last_used_at]));
    return docs.map((doc) => merged(doc, revokedAt.get(doc.id), usedAt.get(doc.id)));
  }
}

/** The record of a token document with its revocation and last use. */
function merged(doc: TokenDoc, revokedAt: Date | undefined, usedAt: Date | undefined): TokenRecord {
  const record = fromTokenDoc(doc);
  record.revoked_at = earlier(record.revoked_at, revokedAt);
  record.last_used_at = later(record.last_used_at, usedAt);
  return record;
}

const earlier = (a: Date | null, b: Date | undefined): Date | null => (b && (a === null || b < a) ? new Date(b.getTime()) : a);
const later = (a: Date | null, b: Date | undefined): Date | null => (b && (a === null || b > a) ? new Date(b.getTime()) : a);
