// What revoking an OAuth grant deletes from the authorization server's store. Shared by the
// adapter (refresh-token reuse, a second code redemption, RFC 7009 on a refresh token) and the
// issuing service (revoking an OAuth-issued token on the tokens page, the API or the CLI), so
// both take the same things away. Only the store: no oidc-provider, so the CLI can use it.
import type { OAuthStore } from "../stores/types.js";

/** The models whose entries belong to a grant. */
export const GRANT_MEMBERS = ["AccessToken", "RefreshToken", "AuthorizationCode"] as const;

export type GrantStore = Pick<OAuthStore, "deleteByGrant" | "destroy">;

/** Deletes one model's entries of the grant; the ids of the MCP token records of the access tokens among them. */
export async function deleteGrantMembers(store: GrantStore, model: string, grantId: string): Promise<string[]> {
  const deleted = await store.deleteByGrant(model, grantId);
  return deleted.flatMap((e) => (e.token_id ? [e.token_id] : []));
}

/**
 * Deletes the grant, then every code, access and refresh token of it: no refresh or redemption
 * can issue from it again. The grant goes first: a token saved concurrently (by a redemption or
 * rotation on another replica) was either saved before the grant went, and is deleted here, or
 * finds no grant once saved and revokes itself (the adapter's upsert). Returns the ids of the
 * MCP token records of the deleted access tokens (the caller revokes them).
 */
export async function deleteGrant(store: GrantStore, grantId: string): Promise<string[]> {
  await store.destroy("Grant", grantId);
  const tokenIds = await Promise.all(GRANT_MEMBERS.map((model) => deleteGrantMembers(store, model, grantId)));
  return tokenIds.flat();
}
