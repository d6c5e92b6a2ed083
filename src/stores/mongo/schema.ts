// Persisted MongoDB shapes, their conversion to and from the domain types, and the indexes.
// The domain types never carry _id; documents never leave this directory.
import { ReadPreference, type CollectionOptions, type Db, type Document, type IndexDescription, type ObjectId } from "mongodb";
import type { CollaboratorRole, Grant, Project, Scope, StoredTokenKind, SystemRole, TempToken, TokenRecord, User } from "../types.js";
import { guard } from "./errors.js";

export const COLLECTIONS = {
  tokens: "tokens",
  /** Revocations and last use, apart from the token documents (see MongoTokenStore). */
  tokenRevocations: "token_revocations",
  tokenUsage: "token_usage",
  /** `_id` = a token's hash: the one lookup FerretDB 1.x answers without decoding every token (see token-hashes.ts). */
  tokenHashes: "token_hashes",
  users: "users",
  projects: "projects",
  collaborators: "collaborators",
  tempTokens: "temp_tokens",
  /** The OAuth authorization server's objects (OAuthStore), and the one consumption of each. */
  oauth: "oauth",
  oauthConsumed: "oauth_consumed",
  browserSessions: "browser_sessions",
  /** Users' tokens at `oauth` upstreams (src/stores/mongo/upstream-token-store.ts), sealed. */
  upstreamTokens: "upstream_tokens",
} as const;

/**
 * How every fact collection is read and written, over what the connection string says. On a
 * replica set a secondary can be behind the primary: read from one, a revoked token, a removed
 * collaborator or a demoted role would still be honoured. Writes wait for a majority, so a
 * change acknowledged (and announced on the invalidation bus) survives a failover.
 */
export const FACT_COLLECTION_OPTIONS: Readonly<CollectionOptions> = Object.freeze<CollectionOptions>({
  readPreference: ReadPreference.PRIMARY,
  writeConcern: { w: "majority" },
});

/** A fact collection, read from the primary and written with w: majority. */
export function factCollection<T extends Document>(db: Db, name: (typeof COLLECTIONS)[keyof typeof COLLECTIONS]) {
  return db.collection<T>(name, FACT_COLLECTION_OPTIONS);
}

export interface GrantDoc {
  project_id: string;
  expires_at: Date | null;
  allow_trigger: boolean;
}

export interface TokenDoc {
  /** The token's id; an ObjectId in documents written by older releases. */
  _id?: string | ObjectId;
  id: string;
  kind: StoredTokenKind;
  name: string;
  hash: string;
  user_id: string | null;
  project_id: string | null;
  scopes: Scope[];
  grants: GrantDoc[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  oauth?: { client_id: string; client_name: string | null; client_uri?: string | null; grant_id: string };
}

/** Insert-only: a revocation is never updated, so no concurrent write can undo it. */
export interface TokenRevocationDoc {
  /** The token's id. */
  _id: string;
  revoked_at: Date;
}

export interface TokenUsageDoc {
  /** The token's id. */
  _id: string;
  last_used_at: Date;
}

/**
 * Where the token with this hash is: written before the token document, never changed (a token's
 * hash never changes and tokens are never deleted).
 */
export interface TokenHashDoc {
  /** The token's hash. */
  _id: string;
  /** The token document's _id (the token's id, or an older release's ObjectId). */
  token: string | ObjectId;
  /** The token's id (the _id of its revocation and last use). */
  id: string;
}

export interface UserDoc {
  _id?: ObjectId;
  id: string;
  system_role: SystemRole;
}

export interface ProjectDoc {
  _id?: ObjectId;
  id: string;
  name: string;
  public: boolean;
}

export interface CollaboratorDoc {
  _id?: ObjectId;
  project_id: string;
  user_id: string;
  role: CollaboratorRole;
}

export interface TempTokenDoc {
  /**
   * "<slot>:<user_id>", slot 0..maxLive-1: the always-unique _id makes "at most maxLive live
   * tokens per user" one atomic insert on MongoDB and FerretDB alike (see MongoTempTokenStore).
   */
  _id: string;
  hash: string;
  user_id: string;
  /** Enforced at read time; also a TTL index where the server has them (MongoDB, not FerretDB 1.x). */
  expires_at: Date;
}

export interface OAuthDoc {
  /** "<model>:<id>". */
  _id: string;
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  uid: string | null;
  token_id: string | null;
  expires_at: Date | null;
}

/**
 * Insert-only: the first insert of an entry's _id is its one consumption; any other insert of
 * that _id fails on the unique _id, on MongoDB and FerretDB alike (see MongoOAuthStore.consume).
 */
export interface OAuthConsumedDoc {
  _id: string;
  consumed_at: Date;
  /** The entry's: the consumption is forgotten with it. */
  expires_at: Date | null;
}

export interface BrowserSessionDoc {
  /** The hash of the cookie's secret. */
  _id: string;
  user_id: string;
  created_at: Date;
  /** Enforced at read time; also a TTL index where the server has them. */
  expires_at: Date;
}

const date = (d: Date): Date => new Date(d.getTime());
const nullableDate = (d: Date | null | undefined): Date | null => (d instanceof Date ? date(d) : null);

export const toGrantDoc = (g: Grant): GrantDoc => ({
  project_id: g.project_id,
  expires_at: nullableDate(g.expires_at),
  allow_trigger: g.allow_trigger,
});

export const fromGrantDoc = (g: GrantDoc): Grant => ({
  project_id: g.project_id,
  expires_at: nullableDate(g.expires_at),
  allow_trigger: g.allow_trigger,
});

export function toTokenDoc(r: TokenRecord): TokenDoc {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    hash: r.hash,
    user_id: r.user_id,
    project_id: r.project_id,
    scopes: [...r.scopes],
    grants: r.grants.map(toGrantDoc),
    created_at: date(r.created_at),
    expires_at: nullableDate(r.expires_at),
    revoked_at: nullableDate(r.revoked_at),
    last_used_at: nullableDate(r.last_used_at),
    ...(r.oauth ? { oauth: { ...r.oauth } } : {}),
  };
}

export function fromTokenDoc(d: TokenDoc): TokenRecord {
  return {
    id: d.id,
    kind: d.kind,
    name: d.name,
    hash: d.hash,
    user_id: d.user_id ?? null,
    project_id: d.project_id ?? null,
    scopes: [...(d.scopes ?? [])],
    grants: (d.grants ?? []).map(fromGrantDoc),
    created_at: date(d.created_at),
    expires_at: nullableDate(d.expires_at),
    revoked_at: nullableDate(d.revoked_at),
    last_used_at: nullableDate(d.last_used_at),
    ...(d.oauth ? { oauth: { client_id: d.oauth.client_id, client_name: d.oauth.client_name ?? null, client_uri: d.oauth.client_uri ?? null, grant_id: d.oauth.grant_id } } : {}),
  };
}

export const toUserDoc = (u: User): UserDoc => ({ id: u.id, system_role: u.system_role });
export const fromUserDoc = (d: UserDoc): User => ({ id: d.id, system_role: d.system_role });
export const toProjectDoc = (p: Project): ProjectDoc => ({ id: p.id, name: p.name, public: p.public });
export const fromProjectDoc = (d: ProjectDoc): Project => ({ id: d.id, name: d.name, public: d.public });
export const tempTokenSlotId = (slot: number, userId: string): string => `${slot}:${userId}`;
export const toTempTokenDoc = (t: TempToken, slot: number): TempTokenDoc => ({
  _id: tempTokenSlotId(slot, t.user_id),
  hash: t.hash,
  user_id: t.user_id,
  expires_at: date(t.expires_at),
});

const INDEXES: Record<string, IndexDescription[]> = {
  [COLLECTIONS.tokens]: [
    { key: { id: 1 }, name: "id_unique", unique: true },
    { key: { hash: 1 }, name: "hash_unique", unique: true },
    { key: { user_id: 1, created_at: -1 }, name: "user_created" },
  ],
  [COLLECTIONS.users]: [{ key: { id: 1 }, name: "id_unique", unique: true }],
  [COLLECTIONS.projects]: [{ key: { id: 1 }, name: "id_unique", unique: true }],
  [COLLECTIONS.collaborators]: [
    { key: { project_id: 1, user_id: 1 }, name: "project_user_unique", unique: true },
    { key: { user_id: 1 }, name: "user" },
  ],
  [COLLECTIONS.tempTokens]: [
    { key: { hash: 1 }, name: "hash_unique", unique: true },
    { key: { user_id: 1, expires_at: 1 }, name: "user_expires" },
  ],
  [COLLECTIONS.oauth]: [
    { key: { grant_id: 1, model: 1 }, name: "grant_model" },
    { key: { uid: 1, model: 1 }, name: "uid_model" },
    { key: { expires_at: 1 }, name: "expires" },
  ],
  [COLLECTIONS.oauthConsumed]: [{ key: { expires_at: 1 }, name: "expires" }],
  [COLLECTIONS.upstreamTokens]: [{ key: { user_id: 1, upstream: 1 }, name: "user_upstream" }],
};

const TTL_INDEX: IndexDescription = { key: { expires_at: 1 }, name: "expires_ttl", expireAfterSeconds: 0 };
const NOT_IMPLEMENTED = 238;

export interface EnsureIndexesResult {
  /** Whether the server accepted the TTL indexes on temp_tokens and browser_sessions (FerretDB 1.x does not). */
  ttl: boolean;
}

/** Creates every index the stores rely on. Idempotent; safe to call at every start. */
export async function ensureIndexes(db: Db): Promise<EnsureIndexesResult> {
  return guard("index", async () => {
    // Collections in parallel; within one, one index per command: FerretDB 1.24 drops the
    // connection (a slice-bounds panic) when one createIndexes names several existing indexes.
    await Promise.all(
      Object.entries(INDEXES).map(async ([name, indexes]) => {
        for (const index of indexes) await db.collection(name).createIndexes([index]);
      }),
    );
    try {
      for (const name of [COLLECTIONS.tempTokens, COLLECTIONS.browserSessions]) await db.collection(name).createIndexes([TTL_INDEX]);
      return { ttl: true };
    } catch (e) {
      const err = e as { code?: unknown; codeName?: unknown };
      if (err.code === NOT_IMPLEMENTED || err.codeName === "NotImplemented") return { ttl: false };
      throw e;
    }
  });
}
