import type { Collection, Db } from "mongodb";
import { checkDate, isValidHash, validateBrowserSession } from "../validate.js";
import type { BrowserSession, BrowserSessionStore } from "../types.js";
import { guard } from "./errors.js";
import { COLLECTIONS, factCollection, type BrowserSessionDoc } from "./schema.js";

/** Sessions by hash (the _id, so a duplicate is the server's duplicate key). Needs ensureIndexes(db) for the TTL index. */
export class MongoBrowserSessionStore implements BrowserSessionStore {
  readonly #sessions: Collection<BrowserSessionDoc>;

  constructor(db: Db) {
    this.#sessions = factCollection<BrowserSessionDoc>(db, COLLECTIONS.browserSessions);
  }

  async create(session: BrowserSession): Promise<void> {
    validateBrowserSession(session);
    const doc: BrowserSessionDoc = { _id: session.hash, user_id: session.user_id, created_at: new Date(session.created_at), expires_at: new Date(session.expires_at) };
    await guard("browser session", () => this.#sessions.insertOne(doc));
  }

  async get(hash: string, now: Date): Promise<{ user_id: string } | null> {
    checkDate(now, "now");
    if (!isValidHash(hash)) return null;
    const doc = await guard("browser session", () => this.#sessions.findOne({ _id: hash }));
    return doc !== null && now < doc.expires_at ? { user_id: doc.user_id } : null;
  }

  async revoke(hash: string): Promise<boolean> {
    if (!isValidHash(hash)) return false;
    const res = await guard("browser session", () => this.#sessions.deleteOne({ _id: hash }));
    return res.deletedCount === 1;
  }

  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    const res = await guard("browser session", () => this.#sessions.deleteMany({ expires_at: { $lte: now } }));
    return res.deletedCount;
  }
}
