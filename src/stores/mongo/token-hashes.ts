// token_hashes: a token's hash as an _id, beside the tokens collection.
//
// Why a lookup collection: FerretDB 1.x hands SQLite only a filter that is exactly
// `{_id: <string or ObjectId>}`; `findOne({hash})` makes FerretDB decode and match every token
// document (the unique hash index exists but is not used), so each cache miss on a token cost a
// scan that grows with the collection: the revoke lag of `make bench-replicas`. Keying the token
// documents themselves by hash would need moving every existing document to a new _id, which
// FerretDB cannot do in place (an _id never changes; a copy beside the original collides with
// the unique indexes on id and hash, and there are no transactions to delete and insert as one).
// Entries here are only ever inserted, so writing them is idempotent and safe from any number of
// replicas at once, and an older release, which never reads them, keeps working beside this one.
import type { Db } from "mongodb";
import { guard } from "./errors.js";
import { COLLECTIONS, factCollection, type TokenDoc, type TokenHashDoc } from "./schema.js";

const BATCH = 500;
/** A progress line every this many tokens, and one at the end. */
const PROGRESS_EVERY = 5_000;

/** Where progress goes (a pino logger is one). */
export interface ProgressLogger {
  info(fields: object, msg: string): void;
}

export const toTokenHashDoc = (doc: Pick<Required<TokenDoc>, "_id" | "id" | "hash">): TokenHashDoc => ({ _id: doc.hash, token: doc._id, id: doc.id });

/**
 * Inserts the entry of every token that has none (written by an older release): run in the
 * background at every start. Idempotent; several replicas may run it at once (an entry another
 * one wrote first is a duplicate key, and that is success). Reads the hashes of both collections
 * once. Until it has run, MongoTokenStore finds such a token by a scan.
 */
export function backfillTokenHashes(db: Db, logger: ProgressLogger): Promise<number> {
  return guard("token", () => backfill(db, logger));
}

async function backfill(db: Db, logger: ProgressLogger): Promise<number> {
  const tokens = factCollection<TokenDoc>(db, COLLECTIONS.tokens);
  const hashes = factCollection<TokenHashDoc>(db, COLLECTIONS.tokenHashes);
  const indexed = new Set((await hashes.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
  const missing: TokenHashDoc[] = [];
  for await (const doc of tokens.find({}, { projection: { _id: 1, id: 1, hash: 1 } })) {
    if (doc._id !== undefined && !indexed.has(doc.hash)) missing.push(toTokenHashDoc({ _id: doc._id, id: doc.id, hash: doc.hash }));
  }
  if (missing.length === 0) return 0;
  logger.info({ tokens: missing.length }, "token_hashes: indexing tokens by hash");
  for (let i = 0; i < missing.length; i += BATCH) {
    await hashes.insertMany(missing.slice(i, i + BATCH), { ordered: false }).catch((e: unknown) => {
      if (!onlyDuplicates(e)) throw e;
    });
    const done = Math.min(i + BATCH, missing.length);
    if (done % PROGRESS_EVERY === 0 || done === missing.length) logger.info({ done, tokens: missing.length }, "token_hashes: indexing tokens by hash");
  }
  return missing.length;
}

/** An unordered insertMany whose every failed document was a duplicate key. */
function onlyDuplicates(e: unknown): boolean {
  if (!(e instanceof Error) || e.name !== "MongoBulkWriteError") return false;
  const raw = (e as { writeErrors?: unknown }).writeErrors;
  const errors = (Array.isArray(raw) ? raw : raw ? [raw] : []) as unknown[];
  return errors.length > 0 && errors.every((w) => (w as { code?: unknown }).code === 11000);
}
