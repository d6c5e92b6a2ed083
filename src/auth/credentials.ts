import { hashToken, parseToken } from "../tokens/format.js";
import type { SubjectFact, SystemRole } from "../policy/types.js";
import type { TokenRecord } from "../stores/types.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import type { JwtVerifier } from "./jwt.js";

export type Credential =
  | { status: "none" }
  | { status: "invalid" | "expired" | "revoked"; tokenId?: string }
  | { status: "valid"; subject: SubjectFact };

const MAX_CREDENTIAL_LENGTH = 8192;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Turns an Authorization header value into a credential status and the subject's facts.
 * Whatever the scheme's spelling, the credential is fully validated; anything that is present
 * but not a valid bearer credential is "invalid", never anonymous.
 */
export class CredentialResolver {
  readonly #touched = new Map<string, number>();

  constructor(
    private readonly facts: CachedFacts,
    private readonly jwt: JwtVerifier,
    private readonly clock: () => number = () => Date.now() / 1000,
  ) {}

  async resolve(authorization: string | null | undefined): Promise<Credential> {
    if (authorization === undefined || authorization === null || authorization.trim() === "") return { status: "none" };
    if (authorization.length > MAX_CREDENTIAL_LENGTH) return { status: "invalid" };
    const match = /^\s*([A-Za-z]+) +(\S+)\s*$/.exec(authorization);
    if (!match || match[1]!.toLowerCase() !== "bearer") return { status: "invalid" };
    const credential = match[2]!;
    if (credential.startsWith("tg_")) return this.#resolveToken(credential);
    if (JWT_SHAPE.test(credential)) return this.#resolveSession(credential);
    return { status: "invalid" };
  }

  async #resolveSession(jwt: string): Promise<Credential> {
    const check = await this.jwt.verify(jwt);
    if (!check.ok) return { status: check.status };
    return { status: "valid", subject: { type: "user", user_id: check.userId, system_role: await this.#systemRole(check.userId) } };
  }

  /**
   * A Tollgate token, its shape and checksum checked before any store read. An OAuth access
   * token resolves to the MCP token record stored for it when it was issued (docs/oauth.md).
   */
  async #resolveToken(value: string): Promise<Credential> {
    const parsed = parseToken(value);
    // Temp tokens are only ever exchanged, OAuth refresh tokens only redeemed: never bearer credentials.
    if (!parsed || parsed.kind === "temp" || parsed.kind === "oauth_refresh") return { status: "invalid" };
    const record = await this.facts.tokenByHash(hashToken(value));
    const kindMatches = parsed.kind === "oauth_access" ? record?.kind === "mcp" && !!record.oauth : record?.kind === parsed.kind;
    if (!record || !kindMatches) return { status: "invalid" };
    if (record.revoked_at) return { status: "revoked", tokenId: record.id };
    this.#touch(record);
    return { status: "valid", subject: await this.#tokenSubject(record) };
  }

  async #tokenSubject(record: TokenRecord): Promise<SubjectFact> {
    const expires_at = record.expires_at ? record.expires_at.getTime() / 1000 : null;
    switch (record.kind) {
      case "project":
        return { type: "project_token", token_id: record.id, project_id: record.project_id!, scopes: [...record.scopes], expires_at };
      case "global":
        return {
          type: "global_token",
          token_id: record.id,
          user_id: record.user_id!,
          system_role: await this.#systemRole(record.user_id!),
          scopes: [...record.scopes],
          expires_at,
        };
      case "mcp":
        return {
          type: "mcp_token",
          token_id: record.id,
          user_id: record.user_id!,
          system_role: await this.#systemRole(record.user_id!),
          grants: record.grants.map((g) => ({
            project_id: g.project_id,
            expires_at: g.expires_at ? g.expires_at.getTime() / 1000 : null,
            allow_trigger: g.allow_trigger,
          })),
          expires_at,
          // Bound to its one resource, the MCP endpoint of its grant's project (the policy checks it).
          // Its MCP sessions are the grant's (the refresh family's): a refreshed token keeps them.
          ...(record.oauth
            ? { binding_id: record.oauth.grant_id, oauth: { client_id: record.oauth.client_id, grant_id: record.oauth.grant_id, project_id: record.grants[0]?.project_id ?? null } }
            : {}),
        };
    }
  }

  /** A user the store does not know has the role "user". */
  async #systemRole(userId: string): Promise<SystemRole> {
    return (await this.facts.user(userId))?.system_role ?? "user";
  }

  /** Records last use at most once a minute per token per process; never delays or fails a request. */
  #touch(record: TokenRecord): void {
    const now = this.clock();
    if ((this.#touched.get(record.id) ?? 0) > now - 60) return;
    if (this.#touched.size > 100_000) this.#touched.clear();
    this.#touched.set(record.id, now);
    this.facts.tokenStore.touch(record.id, new Date(now * 1000)).catch(() => undefined);
  }
}
