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
  /** Who issued the tokens (absent on documents written before it was recorded); bound into the seal. */
  issuer?: string | null;
  token_endpoint?: string | null;
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
    const bound = { issuer: tokens.issuer ?? null, token_endpoint: tokens.tokenEndpoint ?? null };
    const doc: UpstreamTokensDoc = {
      _id: id,
      user_id: userId,
      upstream,
      access_token: this.#cipher.encrypt(tokens.accessToken, aad(id, "access_token", bound)),
      refresh_token: tokens.refreshToken === undefined ? null : this.#cipher.encrypt(tokens.refreshToken, aad(id, "refresh_token", bound)),
      expires_at: tokens.expiresAt === undefined ? null : new Date(tokens.expiresAt),
      scopes: [...tokens.scopes],
      client_id: tokens.clientId,
      ...bound,
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
    const bound = { issuer: doc.issuer ?? null, token_endpoint: doc.token_endpoint ?? null };
    const tokens: UpstreamTokens = {
      accessToken: this.#cipher.decrypt(doc.access_token, aad(id, "access_token", bound)),
      ...(doc.refresh_token === null ? {} : { refreshToken: this.#cipher.decrypt(doc.refresh_token, aad(id, "refresh_token", bound)) }),
      ...(doc.expires_at === null ? {} : { expiresAt: doc.expires_at.getTime() }),
      scopes: doc.scopes,
      clientId: doc.client_id,
      ...(bound.issuer !== null && bound.token_endpoint !== null ? { issuer: bound.issuer, tokenEndpoint: bound.token_endpoint } : {}),
      ...(doc.connected_at == null ? {} : { connectedAt: doc.connected_at.getTime() }),
    };
    return copyUpstreamTokens(tokens);
  }
}

/**
 * A sealed token opens only in the document and field it was sealed for, and only beside the
 * issuer and token endpoint it was stored with: an issuer edited in the database does not open.
 * (Documents from before the issuer was recorded were sealed without it, and still open, as
 * tokens without an issuer: the connector drops them and the user reconnects.)
 */
const aad = (id: string, field: SealedField, bound: { issuer: string | null; token_endpoint: string | null }): string =>
  bound.issuer === null || bound.token_endpoint === null ? `upstream-tokens\n${id}\n${field}` : `upstream-tokens\n${id}\n${field}\n${JSON.stringify([bound.issuer, bound.token_endpoint])}`;
