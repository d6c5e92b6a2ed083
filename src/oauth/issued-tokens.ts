// The MCP token record of each OAuth access token: what the gateway resolves the token to, so
// the policy judges it as any MCP token (grants, still a collaborator, trigger, limits, audit),
// bound to its one resource (subject.oauth).
import type { AdapterPayload } from "oidc-provider";
import type { TokenIssuer } from "../issuing/token-issuer.js";
import type { OAuthStore } from "../stores/types.js";
import type { AccessTokenRecords } from "./adapter.js";
import { isClientIdMetadataDocumentUrl, type ClientMetadataDocuments } from "./client-metadata-documents.js";
import { projectOfResource } from "./resources.js";

export const SCOPE_READ = "mcp:read";
export const SCOPE_TRIGGER = "mcp:trigger";
const NAME_MAX = 100;

export interface OAuthAccessTokenRecordsDeps {
  issuer: TokenIssuer;
  /** The authorization server's store: the client's name and the grant's expiry are read from it. */
  store: OAuthStore;
  /** The names of clients whose client_id is a Client ID Metadata Document. */
  clientDocuments?: ClientMetadataDocuments;
  publicUrl: string;
  clock?: () => Date;
}

export class OAuthAccessTokenRecords implements AccessTokenRecords {
  readonly #deps: OAuthAccessTokenRecordsDeps;
  readonly #clock: () => Date;

  constructor(deps: OAuthAccessTokenRecordsDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  async create(value: string, payload: AdapterPayload): Promise<string> {
    const { accountId, clientId, grantId, exp } = payload;
    const resource = Array.isArray(payload.aud) ? (payload.aud.length === 1 ? payload.aud[0] : undefined) : payload.aud;
    const project = typeof resource === "string" ? projectOfResource(this.#deps.publicUrl, resource) : null;
    if (!project || typeof accountId !== "string" || typeof clientId !== "string" || typeof grantId !== "string" || typeof exp !== "number") {
      // getResourceServerInfo admits only MCP resources: anything else here is a wiring fault.
      throw new Error("an OAuth access token must name one MCP resource, its user, client, grant and expiry");
    }
    const now = this.#clock();
    const [metadata, grant] = await Promise.all([this.#clientMetadata(clientId, now), this.#deps.store.find("Grant", grantId, now)]);
    // A grant revoked meanwhile (a reuse, or the user's revoke, racing this redemption or
    // refresh) is not refused here: the token revokes itself once saved (the adapter's upsert),
    // so the one redemption that won a race still answers, with a token that is already revoked.
    const clientName = displayName(metadata?.client_name);
    const grantExp = grant ? (JSON.parse(grant.entry.payload) as { exp?: unknown }).exp : undefined;
    const scopes = new Set(typeof payload.scope === "string" ? payload.scope.split(" ") : []);
    const record = await this.#deps.issuer.adoptOAuthToken(value, {
      user_id: accountId,
      name: clientName ?? "OAuth client",
      grants: [{ project_id: project, allow_trigger: scopes.has(SCOPE_TRIGGER), expires_at: typeof grantExp === "number" ? new Date(grantExp * 1000) : null }],
      expires_at: new Date(exp * 1000),
      oauth: { client_id: clientId, client_name: clientName, client_uri: webUri(metadata?.client_uri), grant_id: grantId },
    });
    return record.id;
  }

  /** A registered client's metadata, or a document client's (cached: the token endpoint has just resolved it; a document gone since leaves the name unknown). */
  async #clientMetadata(clientId: string, now: Date): Promise<{ client_name?: unknown; client_uri?: unknown } | undefined> {
    if (isClientIdMetadataDocumentUrl(clientId)) return this.#deps.clientDocuments?.clientMetadata(clientId).catch(() => undefined);
    const client = await this.#deps.store.find("Client", clientId, now);
    return client ? (JSON.parse(client.entry.payload) as { client_name?: unknown; client_uri?: unknown }) : undefined;
  }

  async revoke(tokenIds: readonly string[]): Promise<void> {
    await this.#deps.issuer.revokeRecords(tokenIds);
  }
}

/** A client's home page when it is an http(s) URL the token record can keep (the tokens page links to it). */
function webUri(uri: unknown): string | null {
  return typeof uri === "string" && uri.length <= 2048 && /^https?:\/\/[^\s\u0000-\u001f\u007f]+$/.test(uri) ? uri : null;
}

/** A client's name as a token name: control characters dropped, at most 100 characters; null when nothing is left. */
function displayName(name: unknown): string | null {
  if (typeof name !== "string") return null;
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, NAME_MAX).trim();
  return clean === "" ? null : clean;
}
