import { generateToken, generateTokenId, hashToken } from "../tokens/format.js";
import { RequestError } from "../errors.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import type { Grant, OAuthBinding, Scope, StoredTokenKind, TokenRecord } from "../stores/types.js";
import { validateTokenRecord } from "../stores/validate.js";
import { deleteGrant, type GrantStore } from "../oauth/grant-deletion.js";

export interface IssueTokenRequest {
  type: StoredTokenKind;
  name?: string;
  user_id?: string;
  project_id?: string;
  scopes?: Scope[];
  grants?: GrantRequest[];
  expires_at?: Date | null;
}

/** A token's value, shown once, and its record. */
export interface IssuedToken {
  token: string;
  record: TokenRecord;
}

/** A grant as requested: no expiry means none, no allow_trigger means false. */
export interface GrantRequest {
  project_id: string;
  expires_at?: Date | null;
  allow_trigger?: boolean;
}

function toGrant(g: GrantRequest): Grant {
  return { project_id: g.project_id, expires_at: g.expires_at ?? null, allow_trigger: g.allow_trigger ?? false };
}

/** A token as the API shows it: never the secret, never its hash. */
export interface TokenView {
  id: string;
  type: StoredTokenKind;
  name: string;
  user_id: string | null;
  project_id: string | null;
  scopes: Scope[];
  grants: Array<{ project_id: string; expires_at: string | null; allow_trigger: boolean }>;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  /** The OAuth client a token was issued to (docs/oauth.md); null for a token made by hand. */
  client: { client_id: string; client_name: string | null; client_uri: string | null } | null;
}

export function viewToken(record: TokenRecord): TokenView {
  const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
  return {
    id: record.id,
    type: record.kind,
    name: record.name,
    user_id: record.user_id,
    project_id: record.project_id,
    scopes: [...record.scopes],
    grants: record.grants.map((g) => ({ project_id: g.project_id, expires_at: iso(g.expires_at), allow_trigger: g.allow_trigger })),
    created_at: record.created_at.toISOString(),
    expires_at: iso(record.expires_at),
    revoked_at: iso(record.revoked_at),
    last_used_at: iso(record.last_used_at),
    client: record.oauth ? { client_id: record.oauth.client_id, client_name: record.oauth.client_name, client_uri: record.oauth.client_uri } : null,
  };
}

/** Issues and revokes tokens; the value is returned once and only its hash is stored. */
export class TokenIssuer {
  /**
   * @param oauthGrants the OAuth authorization server's store: revoking a token it issued
   *   deletes the token's grant there (its refresh tokens with it).
   */
  constructor(
    private readonly facts: CachedFacts,
    private readonly oauthGrants: GrantStore,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async issue(request: IssueTokenRequest): Promise<IssuedToken> {
    const prepared = await this.prepare(request);
    await this.store(prepared);
    return prepared;
  }

  /**
   * Everything issue() checks, without storing anything: what prepare() accepts, store() stores
   * (barring a backend failure). For callers that must spend something in between, such as the
   * temp-token exchange.
   */
  async prepare(request: IssueTokenRequest): Promise<IssuedToken> {
    const now = this.clock();
    if (request.expires_at && request.expires_at.getTime() <= now.getTime()) {
      throw new RequestError("invalid_request", "expires_at must be in the future", "expires_at");
    }
    const record = await this.#record(request, now);
    const { value, hash } = generateToken(request.type);
    record.hash = hash;
    validateTokenRecord(record); // the store's own check, now rather than at store()
    return { token: value, record };
  }

  async store(prepared: IssuedToken): Promise<void> {
    await this.facts.tokenStore.create(prepared.record);
  }

  /**
   * Stores the MCP token record of an access token the OAuth authorization server made: its
   * value is the server's (only its hash is kept), its grant what the user approved.
   */
  async adoptOAuthToken(value: string, request: { user_id: string; name: string; grants: GrantRequest[]; expires_at: Date; oauth: OAuthBinding }): Promise<TokenRecord> {
    const record: TokenRecord = { ...(await this.#record({ type: "mcp", ...request }, this.clock())), hash: hashToken(value), oauth: { ...request.oauth } };
    validateTokenRecord(record);
    await this.facts.tokenStore.create(record);
    return record;
  }

  /**
   * Issues a token named by an operator (admin API, CLI): the owner must be a known user, so a
   * typo does not mint a token for nobody. Sessions' own tokens go through issue().
   */
  async issueForOperator(request: IssueTokenRequest): Promise<IssuedToken> {
    if (request.user_id !== undefined && !(await this.facts.directoryStore.getUser(request.user_id))) {
      throw new RequestError("unknown_user", `user_id: no user "${request.user_id}" (create it with PUT /v1/admin/users/{id})`, "user_id");
    }
    return this.issue(request);
  }

  /** Renames a token or replaces its grants; running decisions see it at once. */
  async update(id: string, patch: { name?: string; grants?: GrantRequest[] }): Promise<TokenRecord | null> {
    return this.facts.tokenStore.update(id, {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.grants ? { grants: patch.grants.map(toGrant) } : {}),
    });
  }

  /**
   * Revokes a token: the one revocation of the tokens page, the MCP token API, the admin API and
   * the CLI. A token issued by OAuth takes its whole grant with it: the grant and its refresh
   * tokens are deleted first (the client cannot get a new access token meanwhile), then every
   * access token record of the grant is revoked. Null when there is no such token.
   */
  async revoke(id: string): Promise<TokenRecord | null> {
    const record = await this.facts.tokenStore.get(id);
    if (!record) return null;
    await this.revokeRecords(record.oauth ? await this.#grantTokenIds(record.user_id, record.oauth.grant_id, id) : [id]);
    return this.facts.tokenStore.get(id);
  }

  /** Revokes exactly these records: for the authorization server, which decides itself what else goes (RFC 7009, reuse). */
  async revokeRecords(ids: readonly string[]): Promise<void> {
    const at = this.clock();
    await Promise.all(ids.map((id) => this.facts.tokenStore.revoke(id, at)));
  }

  /** The records of an OAuth grant's access tokens, once the grant is deleted: those the store still named and those of the user's records that carry it. */
  async #grantTokenIds(userId: string | null, grantId: string, id: string): Promise<string[]> {
    const deleted = await deleteGrant(this.oauthGrants, grantId);
    const owned = userId ? (await this.facts.tokenStore.listByUser(userId)).filter((r) => r.oauth?.grant_id === grantId && !r.revoked_at).map((r) => r.id) : [];
    return [...new Set([id, ...deleted, ...owned])];
  }

  async #record(r: IssueTokenRequest, now: Date): Promise<TokenRecord> {
    const base = {
      id: generateTokenId(),
      kind: r.type,
      name: r.name ?? `${r.type} token`,
      hash: "",
      created_at: now,
      expires_at: r.expires_at ?? null,
      revoked_at: null,
      last_used_at: null,
    };
    switch (r.type) {
      case "global":
        reject(r.project_id !== undefined, "project_id", "a global token is not bound to a project");
        reject(r.grants !== undefined, "grants", "only mcp tokens have grants");
        return { ...base, user_id: requiredUser(r.user_id), project_id: null, scopes: scopes(r.scopes), grants: [] };
      case "project":
        reject(r.user_id !== undefined, "user_id", "a project token belongs to its project, not to a user");
        reject(r.grants !== undefined, "grants", "only mcp tokens have grants");
        return { ...base, user_id: null, project_id: await this.#project(r.project_id, "project_id"), scopes: scopes(r.scopes), grants: [] };
      case "mcp": {
        reject(r.scopes !== undefined, "scopes", "mcp tokens carry grants, not scopes");
        reject(r.project_id !== undefined, "project_id", "mcp tokens carry grants, not a project_id");
        const grants: Grant[] = [];
        for (const [i, g] of (r.grants ?? []).entries()) {
          await this.#project(g.project_id, `grants.${i}.project_id`);
          grants.push(toGrant(g));
        }
        return { ...base, user_id: requiredUser(r.user_id), project_id: null, scopes: [], grants };
      }
    }
  }

  async #project(projectId: string | undefined, field: string): Promise<string> {
    if (projectId === undefined) throw new RequestError("invalid_request", `${field} is required`, field);
    if (!(await this.facts.directoryStore.getProject(projectId))) {
      throw new RequestError("unknown_project", `${field}: no project "${projectId}"`, field);
    }
    return projectId;
  }
}

function requiredUser(userId: string | undefined): string {
  if (userId === undefined) throw new RequestError("invalid_request", "user_id is required for this token type", "user_id");
  return userId;
}

function reject(condition: boolean, field: string, message: string): void {
  if (condition) throw new RequestError("invalid_request", `${field}: ${message}`, field);
}

function scopes(requested: Scope[] | undefined): Scope[] {
  if (requested === undefined) return ["read"];
  if (requested.length === 0) throw new RequestError("invalid_request", "scopes: give at least one of read, write", "scopes");
  return [...new Set(requested)];
}
