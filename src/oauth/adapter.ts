// oidc-provider's storage adapter on Tollgate's shared OAuthStore, so every replica sees every
// code, token, grant, client, interaction and session. Three things the reference adapters do
// not: secrets are kept only as hashes, consume() is one atomic step across replicas, and each
// access token gets the MCP token record the gateway resolves it to (issued-tokens.ts). A client
// whose client_id is an https URL is not looked up: its Client ID Metadata Document is fetched
// (client-metadata-documents.ts).
import { errors, type Adapter, type AdapterPayload } from "oidc-provider";
import type { OAuthEntry, OAuthStore } from "../stores/types.js";
import { hashToken, parseToken, type OAuthTokenKind } from "../tokens/format.js";
import { ClientMetadataDocumentRefused, isClientIdMetadataDocumentUrl, type ClientMetadataDocuments } from "./client-metadata-documents.js";
import { deleteGrant, deleteGrantMembers } from "./grant-deletion.js";

/** What the adapter needs of the MCP token records of access tokens. */
export interface AccessTokenRecords {
  /** Stores the record of a new access token; its id. */
  create(value: string, payload: AdapterPayload): Promise<string>;
  revoke(tokenIds: readonly string[]): Promise<void>;
}

/** Models whose id is not a secret: kept as they are. Every other id is a bearer value (a code, a token, a session or interaction cookie): hashed. */
const PLAIN_ID_MODELS = new Set(["Client", "Grant"]);
/** A consumed code or refresh token is remembered this long past its expiry, so that a late second use still revokes its grant. */
export const CONSUMED_RETENTION_MS = 10 * 60_000;
const CONSUMABLE = new Set(["AuthorizationCode", "RefreshToken"]);
/** A registered client nobody gets a token for is forgotten after this long; each access token issued to it starts the period again. */
export const UNUSED_CLIENT_TTL_MS = 30 * 86_400_000;
/** Models whose values are Tollgate tokens (provider.ts): a value of another shape or with a bad checksum is not looked up. */
const TOKEN_KINDS: Readonly<Record<string, OAuthTokenKind>> = { AccessToken: "oauth_access", RefreshToken: "oauth_refresh" };
/** Tokens that revoke themselves when saved after their grant was revoked. */
const GRANT_TOKENS = new Set(["AccessToken", "RefreshToken"]);

export interface AdapterOptions {
  store: OAuthStore;
  accessTokens: AccessTokenRecords;
  /** Resolves a client_id that is an https URL; without it such a client_id is an unknown client. */
  clientDocuments?: ClientMetadataDocuments;
  clock?: () => Date;
}

/** The adapter factory for oidc-provider's `adapter` setting, and the grant revocation it uses. */
export function oauthAdapter(options: AdapterOptions): { factory: (model: string) => Adapter; revokeGrant: (grantId: string) => Promise<void> } {
  const { store, accessTokens } = options;
  const clock = options.clock ?? (() => new Date());

  /**
   * The grant, then every token of it and its access tokens' records. The grant goes first: a
   * token saved concurrently (by the redemption or rotation that won the race on another
   * replica) was either saved before the grant went, and is deleted here, or finds no grant
   * after it is saved, and revokes itself (upsert).
   */
  async function revokeGrant(grantId: string): Promise<void> {
    await revokeRecords(await deleteGrant(store, grantId));
  }

  async function revokeRecords(tokenIds: string[]): Promise<void> {
    if (tokenIds.length > 0) await accessTokens.revoke(tokenIds);
  }

  /** The client is in use: it is kept another UNUSED_CLIENT_TTL_MS. */
  async function keepClient(clientId: string, now: Date): Promise<void> {
    const client = await store.find("Client", clientId, now);
    if (client) await store.upsert({ ...client.entry, expires_at: new Date(now.getTime() + UNUSED_CLIENT_TTL_MS) });
  }

  /** The client a Client ID Metadata Document describes; a refusal is the client's invalid_client, with the reason. */
  async function documentClient(clientId: string): Promise<AdapterPayload | undefined> {
    if (!options.clientDocuments) return undefined;
    try {
      return { ...(await options.clientDocuments.clientMetadata(clientId)) };
    } catch (err) {
      if (err instanceof ClientMetadataDocumentRefused) throw new errors.InvalidClient(err.message);
      throw err;
    }
  }

  function factory(model: string): Adapter {
    const hashed = !PLAIN_ID_MODELS.has(model);
    const key = (id: string): string => (hashed ? hashToken(id) : id);
    /** The stored payload; a hashed model's jti is the id it was asked by (undefined: not known, never given back). */
    const toPayload = (entry: OAuthEntry, id: string | undefined, consumedAt: Date | null): AdapterPayload => {
      const payload = JSON.parse(entry.payload) as AdapterPayload;
      if (hashed && id !== undefined) payload.jti = id;
      if (consumedAt) payload.consumed = Math.floor(consumedAt.getTime() / 1000);
      return payload;
    };

    return {
      async upsert(id, payload, expiresIn) {
        const now = clock();
        const { jti: _jti, consumed: _consumed, ...rest } = payload;
        const stored = hashed ? rest : { ...rest, jti: id };
        let expiresAt = typeof expiresIn === "number" ? now.getTime() + expiresIn * 1000 : null;
        if (expiresAt !== null && CONSUMABLE.has(model)) expiresAt += CONSUMED_RETENTION_MS;
        if (model === "Client") expiresAt = now.getTime() + UNUSED_CLIENT_TTL_MS;
        const tokenId = model === "AccessToken" ? await accessTokens.create(id, payload) : null;
        if (model === "AccessToken" && typeof payload.clientId === "string") await keepClient(payload.clientId, now);
        const grantId = typeof payload.grantId === "string" ? payload.grantId : model === "Grant" ? id : null;
        await store.upsert({
          model,
          id: key(id),
          payload: JSON.stringify(stored),
          grant_id: grantId,
          uid: typeof payload.uid === "string" ? payload.uid : null,
          token_id: tokenId,
          expires_at: expiresAt === null ? null : new Date(expiresAt),
        });
        // A token whose grant was revoked while it was being issued (a reuse of its code or
        // refresh token racing on another replica) revokes itself: see revokeGrant.
        if (grantId !== null && GRANT_TOKENS.has(model) && !(await store.find("Grant", grantId, clock()))) {
          if (tokenId) await accessTokens.revoke([tokenId]);
          await store.destroy(model, key(id));
        }
      },

      async find(id) {
        if (model === "Client" && isClientIdMetadataDocumentUrl(id)) return documentClient(id);
        const kind = TOKEN_KINDS[model];
        if (kind && parseToken(id)?.kind !== kind) return undefined;
        const found = await store.find(model, key(id), clock());
        return found ? toPayload(found.entry, id, found.consumed_at) : undefined;
      },

      /**
       * Only sessions are found by uid: when an authorization starts while the browser still has
       * the provider's session (a second authorization within its hour), the provider checks the
       * interaction's session still exists and has the same account. A session's id is its
       * cookie's value, kept only as a hash: the payload comes back without it (no jti), which
       * that check does not need. (Tokens that expire with their session, the other use, Tollgate's do not.)
       */
      async findByUid(uid) {
        const found = await store.findByUid(model, uid, clock());
        return found ? toPayload(found.entry, hashed ? undefined : found.entry.id, found.consumed_at) : undefined;
      },

      async findByUserCode() {
        return undefined; // no device flow
      },

      /**
       * The one atomic step of a code redemption or refresh rotation: of concurrent callers on
       * any replica exactly one gets here without an error. The others raced a second use of a
       * single-use value: they get invalid_grant, and the grant is revoked as for any reuse.
       */
      async consume(id) {
        if (await store.consume(model, key(id), clock())) return;
        const found = await store.find(model, key(id), clock());
        if (found?.entry.grant_id) await revokeGrant(found.entry.grant_id);
        throw new errors.InvalidGrant(`${model === "RefreshToken" ? "refresh token" : "authorization code"} already used`);
      },

      async destroy(id) {
        if (model === "AccessToken") {
          const found = await store.find(model, key(id), clock());
          if (found?.entry.token_id) await accessTokens.revoke([found.entry.token_id]);
        }
        await store.destroy(model, key(id));
      },

      /** The provider revokes a family model by model (a reused refresh token, RFC 7009): the grant goes first here too, for the reason in revokeGrant. */
      async revokeByGrantId(grantId) {
        await store.destroy("Grant", grantId);
        await revokeRecords(await deleteGrantMembers(store, model, grantId));
      },
    };
  }

  return { factory, revokeGrant };
}
