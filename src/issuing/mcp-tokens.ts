import { ERRORS, RequestError } from "../errors.js";
import type { CachedFacts } from "../facts/cached-facts.js";
import type { PolicyEngine } from "../policy/engine.js";
import type { CollaboratorRole } from "../policy/types.js";
import type { TempTokenStore, TokenRecord } from "../stores/types.js";
import { generateToken, hashToken, parseToken } from "../tokens/format.js";
import type { GrantRequest, IssuedToken, TokenIssuer } from "./token-issuer.js";

const TEMP_TOKEN_TTL_MS = 10 * 60 * 1000;
/** Live (unexpired, unexchanged) temp tokens one user may hold. */
export const MAX_LIVE_TEMP_TOKENS = 5;

/** An MCP token as a user asks for it. */
export interface McpTokenRequest {
  name: string;
  grants: GrantRequest[];
  expires_at?: Date | null;
}

export interface McpTokenPatch {
  name?: string;
  grants?: GrantRequest[];
}

/** A temp token's value, shown once, and when it stops being exchangeable. */
export interface TempTokenIssued {
  temp_token: string;
  expires_at: Date;
}

export interface McpTokenServiceDeps {
  engine: Pick<PolicyEngine, "grantViolations">;
  facts: CachedFacts;
  issuer: TokenIssuer;
  tempTokens: TempTokenStore;
  clock?: () => Date;
}

/**
 * The user a self-service request acts for: the subject of a session. The policy admits only
 * sessions to these routes; anything else reaching here is a wiring error, refused.
 */
export function sessionUser(subject: { type: string; user_id: string | null } | null): string {
  if (subject?.type !== "user" || !subject.user_id) throw new RequestError("token_not_allowed_on_path", "MCP tokens are managed with a user session");
  return subject.user_id;
}

/**
 * MCP token self-service: a user creates, lists, renames, re-grants and revokes their own MCP
 * tokens, and an MCP client that holds a temp token from the user exchanges it for one. Every
 * grant is checked against the policy's grant rules and the user's current roles. A token that
 * is not one of the user's MCP tokens is answered as absent. Throws RequestError for every refusal.
 */
export class McpTokenService {
  readonly #deps: McpTokenServiceDeps;
  readonly #clock: () => Date;

  constructor(deps: McpTokenServiceDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  /**
   * The user's MCP tokens, newest first. An OAuth grant is one entry, the record of its newest
   * access token: each refresh adds a record, not a token the user gave out (revoking any of
   * them revokes the grant).
   */
  async list(userId: string): Promise<TokenRecord[]> {
    const records = await this.#deps.facts.tokenStore.listByUser(userId);
    const grants = new Set<string>();
    return records.filter((r) => {
      if (r.kind !== "mcp") return false;
      if (!r.oauth) return true;
      if (grants.has(r.oauth.grant_id)) return false;
      grants.add(r.oauth.grant_id);
      return true;
    });
  }

  async create(userId: string, request: McpTokenRequest): Promise<IssuedToken> {
    await this.#checkGrants(userId, request.grants);
    return this.#deps.issuer.issue(mcpToken(userId, request));
  }

  /** One of the user's MCP tokens; 404 not_found for any other id. */
  async get(userId: string, id: string): Promise<TokenRecord> {
    const record = await this.#deps.facts.tokenStore.get(id);
    if (!record || record.kind !== "mcp" || record.user_id !== userId) throw notFound();
    return record;
  }

  async update(userId: string, id: string, patch: McpTokenPatch): Promise<TokenRecord> {
    const record = await this.get(userId, id);
    if (patch.grants) await this.#checkGrants(userId, patch.grants);
    const updated = await this.#deps.issuer.update(record.id, patch);
    if (!updated) throw notFound();
    return updated;
  }

  async revoke(userId: string, id: string): Promise<TokenRecord> {
    const record = await this.get(userId, id);
    return (await this.#deps.issuer.revoke(record.id)) ?? record;
  }

  /** A short-lived, single-use temp token; 429 rate_limited while the user holds the most allowed. */
  async issueTempToken(userId: string): Promise<TempTokenIssued> {
    const { value, hash } = generateToken("temp");
    const now = this.#clock();
    const expiresAt = new Date(now.getTime() + TEMP_TOKEN_TTL_MS);
    const creation = await this.#deps.tempTokens.create({ hash, user_id: userId, expires_at: expiresAt }, { now, maxLive: MAX_LIVE_TEMP_TOKENS });
    if (!creation.created) {
      const message = `at most ${MAX_LIVE_TEMP_TOKENS} temp tokens may be live at once: exchange one, or wait until the oldest expires`;
      throw new RequestError("rate_limited", message, undefined, (creation.oldest_expires_at.getTime() - now.getTime()) / 1000);
    }
    return { temp_token: value, expires_at: expiresAt };
  }

  /**
   * The temp token's owner gets an MCP token. Everything that can refuse the exchange is checked
   * before the temp token is consumed, so a refused exchange leaves it usable; the consume is the
   * one atomic step, then the token is stored.
   */
  async exchange(tempToken: string, request: McpTokenRequest): Promise<IssuedToken> {
    if (parseToken(tempToken)?.kind !== "temp") throw new RequestError("invalid_request", "temp_token: not a temp token", "temp_token");
    const hash = hashToken(tempToken);
    const owner = await this.#deps.tempTokens.peek(hash, this.#clock());
    if (!owner) throw unknownTempToken();
    await this.#checkGrants(owner.user_id, request.grants);
    const prepared = await this.#deps.issuer.prepare(mcpToken(owner.user_id, request));
    if (!(await this.#deps.tempTokens.consume(hash, this.#clock()))) throw unknownTempToken();
    await this.#deps.issuer.store(prepared);
    return prepared;
  }

  /** The policy's grant rules, applied to the user's current roles; 403 naming the first refused grant. */
  async #checkGrants(userId: string, requested: GrantRequest[]): Promise<void> {
    const { facts, engine } = this.#deps;
    const projects = [...new Set(requested.map((g) => g.project_id))];
    const user = await facts.user(userId);
    const roles = await Promise.all(projects.map(async (p) => ((await facts.project(p)) ? facts.collaboratorRole(p, userId) : null)));
    const violations = engine.grantViolations({
      system_role: user?.system_role ?? "user",
      roles: Object.fromEntries(projects.map((p, i): [string, CollaboratorRole | null] => [p, roles[i] ?? null])),
      grants: requested.map((g) => ({ project_id: g.project_id, allow_trigger: g.allow_trigger ?? false })),
    });
    const first = violations[0];
    if (!first) return;
    // Any other reason is the engine's failure (or a policy fault): every grant refused as such.
    const code = first.reason === "not_collaborator" || first.reason === "insufficient_role" ? first.reason : "policy_error";
    const message = code === "insufficient_role" ? "allow_trigger needs Developer or above" : ERRORS[code].message;
    throw new RequestError(code, `${first.field}: ${message}`, first.field);
  }
}

function mcpToken(userId: string, request: McpTokenRequest) {
  return { type: "mcp" as const, user_id: userId, name: request.name, grants: request.grants, expires_at: request.expires_at ?? null };
}

function notFound(): RequestError {
  return new RequestError("not_found", "no such MCP token");
}

function unknownTempToken(): RequestError {
  return new RequestError("invalid_token", "temp_token is unknown, already used or expired", "temp_token");
}
