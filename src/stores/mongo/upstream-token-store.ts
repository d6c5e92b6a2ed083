import type { Collection, Db } from "mongodb";
import type { SecretCipher } from "../../upstreams/encryption.js";
import { copyUpstreamTokens, upstreamTokensId, validateUpstreamTokenKey, validateUpstreamTokens, type UpstreamConnection, type UpstreamTokenStore, type UpstreamTokens } from "../../upstreams/user-tokens.js";
import { guard } from "./errors.js";
import { COLLECTIONS, factCollection } from "./schema.js";

/** One document per (user, upstream); the tokens sealed, each bound to its document and field. */
interface UpstreamTokensDoc {
  /** upstreamTokensId(user_id, upstream): a get or delete is one lookup by _id (FerretDB's fast path). */
  _id: string;
  user_id: string;
  upstream: string;
  access_token: string;
  refresh_token: string | null;
  expires_at: Date | null;
  scopes: string[];
  client_id: string;
  /** Absent (or null) on documents written before it was recorded. */
  connected_at?: Date | null;
  updated_at: Date;
}

type SealedField = "access_token" | "refresh_token";

/** The production store (MongoDB, FerretDB): tokens sealed with SecretCipher, the document's key as associated data. */
export class MongoUpstreamTokenStore implements UpstreamTokenStore {
  readonly #tokens: Collection<UpstreamTokensDoc>;
  readonly #cipher: SecretCipher;

  constructor(db: Db, cipher: SecretCipher) {
    this.#tokens = factCollection<UpstreamTokensDoc>(db, COLLECTIONS.upstreamTokens);
    this.#cipher = cipher;
  }

  async get(userId: string, upstream: string): Promise<UpstreamTokens | null> {
    validateUpstreamTokenKey({ userId, upstream });
    const doc = await guard("upstream tokens", () => this.#tokens.findOne({ _id: upstreamTokensId(userId, upstream) }));
    return doc === null ? null : this.#open(doc);
  }

  async put(userId: string, upstream: string, tokens: UpstreamTokens): Promise<void> {
    validateUpstreamTokens(userId, upstream, tokens);
    const id = upstreamTokensId(userId, upstream);
    const doc: UpstreamTokensDoc = {
      _id: id,
      user_id: userId,
      upstream,
      access_token: this.#cipher.encrypt(tokens.accessToken, aad(id, "access_token")),
      refresh_token: tokens.refreshToken === undefined ? null : this.#cipher.encrypt(tokens.refreshToken, aad(id, "refresh_token")),
      expires_at: tokens.expiresAt === undefined ? null : new Date(tokens.expiresAt),
      scopes: [...tokens.scopes],
      client_id: tokens.clientId,
      connected_at: tokens.connectedAt === undefined ? null : new Date(tokens.connectedAt),
      updated_at: new Date(),
    };
    await guard("upstream tokens", () => this.#tokens.replaceOne({ _id: id }, doc, { upsert: true }));
  }

  async delete(userId: string, upstream: string): Promise<boolean> {
    validateUpstreamTokenKey({ userId, upstream });
    const res = await guard("upstream tokens", () => this.#tokens.deleteOne({ _id: upstreamTokensId(userId, upstream) }));
    return res.deletedCount === 1;
  }

  async listByUser(userId: string): Promise<UpstreamConnection[]> {
    validateUpstreamTokenKey({ userId });
    const docs = await guard("upstream tokens", () => this.#tokens.find({ user_id: userId }).sort({ upstream: 1 }).toArray());
    return docs.map((doc) => ({ upstream: doc.upstream, tokens: this.#open(doc) }));
  }

  /** Opens with the user and upstream the document names: a document moved to another user does not open. */
  #open(doc: UpstreamTokensDoc): UpstreamTokens {
    const id = upstreamTokensId(doc.user_id, doc.upstream);
    const tokens: UpstreamTokens = {
      accessToken: this.#cipher.decrypt(doc.access_token, aad(id, "access_token")),
      ...(doc.refresh_token === null ? {} : { refreshToken: this.#cipher.decrypt(doc.refresh_token, aad(id, "refresh_token")) }),
      ...(doc.expires_at === null ? {} : { expiresAt: doc.expires_at.getTime() }),
      scopes: doc.scopes,
      clientId: doc.client_id,
      ...(doc.connected_at == null ? {} : { connectedAt: doc.connected_at.getTime() }),
    };
    return copyUpstreamTokens(tokens);
  }
}

/** A sealed token opens only in the document and field it was sealed for. */
const aad = (id: string, field: SealedField): string => `upstream-tokens\n${id}\n${field}`;
