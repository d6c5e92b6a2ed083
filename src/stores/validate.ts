// One validation function per record type, called by every backend at the store boundary.
// Each throws StoreValidationError naming the offending field. Lookups use the is*() predicates
// instead: a malformed key cannot exist, so they answer null without I/O (and a non-string never
// reaches a MongoDB filter, where an object such as {$ne: null} would match anything).
import { ID_RE, ID_RULE, isValidUserId, USER_ID_RULE } from "../domain.js";
import {
  COLLABORATOR_ROLES,
  type BrowserSession,
  SCOPES,
  STORED_TOKEN_KINDS,
  StoreValidationError,
  SYSTEM_ROLES,
  type Collaborator,
  type LiveTempTokenLimit,
  type McpSessionRef,
  type Project,
  type TempToken,
  type TokenPatch,
  type TokenRecord,
  type User,
} from "./types.js";

export const HASH_RE = /^[0-9a-f]{64}$/;
export const NAME_MAX = 100;
/** Upper bounds of the rate-limit arguments (a sub-window count fits the memory limiter's Uint32Array). */
export const RATE_LIMIT_MAX = 1_000_000;
export const RATE_WINDOW_MAX_MS = 2_147_483_647;
export const RATE_KEY_MAX = 512;

export function isValidId(v: unknown): v is string {
  return typeof v === "string" && ID_RE.test(v);
}

export function isValidHash(v: unknown): v is string {
  return typeof v === "string" && HASH_RE.test(v);
}

export function isValidDate(v: unknown): v is Date {
  return v instanceof Date && !Number.isNaN(v.getTime());
}

export function fail(field: string, reason: string): never {
  throw new StoreValidationError(field, reason);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `field` is the path of the object ("" at the top, then keys are reported bare); `what` names a top-level object. */
export function object(v: unknown, field: string, allowed: readonly string[], required: readonly string[], what = field): Record<string, unknown> {
  if (!isPlainObject(v)) fail(field || what, "must be an object");
  const keys = Object.keys(v);
  // Fast path: exactly the allowed fields in their order (what our own builders make), so every required one is present.
  if (keys.length === allowed.length && keys.every((key, i) => key === allowed[i])) return v;
  for (const key of keys) {
    if (!allowed.includes(key)) fail(field ? `${field}.${key}` : key, "unknown field");
  }
  for (const key of required) {
    if (!(key in v)) fail(field ? `${field}.${key}` : key, "is required");
  }
  return v;
}

export function checkId(v: unknown, field: string): string {
  if (!isValidId(v)) fail(field, ID_RULE);
  return v;
}

export function checkUserId(v: unknown, field: string): string {
  if (!isValidUserId(v)) fail(field, USER_ID_RULE);
  return v;
}

export function checkHash(v: unknown, field = "hash"): string {
  if (!isValidHash(v)) fail(field, "must be 64 lowercase hex characters (sha256)");
  return v;
}

export function checkDate(v: unknown, field: string): Date {
  if (!isValidDate(v)) fail(field, "must be a valid Date");
  return v;
}

function checkNullableDate(v: unknown, field: string): void {
  if (v !== null) checkDate(v, field);
}

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function checkName(v: unknown, field: string): void {
  if (typeof v !== "string") fail(field, "must be a string");
  if (v.length < 1 || v.length > NAME_MAX) fail(field, `must be 1..${NAME_MAX} characters`);
  if (v.trim() === "") fail(field, "must not be blank");
  if (CONTROL_RE.test(v)) fail(field, "must not contain control characters");
}

function checkOneOf<T extends string>(v: unknown, allowed: readonly T[], field: string): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) fail(field, `must be one of ${allowed.join(", ")}`);
  return v as T;
}

const GRANT_FIELDS = ["project_id", "expires_at", "allow_trigger"] as const;

function checkGrants(v: unknown, field: string): void {
  if (!Array.isArray(v)) fail(field, "must be an array");
  const seen = new Set<string>();
  v.forEach((g, i) => {
    const f = `${field}[${i}]`;
    const grant = object(g, f, GRANT_FIELDS, GRANT_FIELDS);
    const projectId = checkId(grant.project_id, `${f}.project_id`);
    if (seen.has(projectId)) fail(`${f}.project_id`, "duplicate grant for this project");
    seen.add(projectId);
    checkNullableDate(grant.expires_at, `${f}.expires_at`);
    if (typeof grant.allow_trigger !== "boolean") fail(`${f}.allow_trigger`, "must be a boolean");
  });
}

const TOKEN_FIELDS = [
  "id",
  "kind",
  "name",
  "hash",
  "user_id",
  "project_id",
  "scopes",
  "grants",
  "created_at",
  "expires_at",
  "revoked_at",
  "last_used_at",
] as const;

const TOKEN_FIELDS_WITH_OAUTH = [...TOKEN_FIELDS, "oauth"] as const;
const OAUTH_BINDING_FIELDS = ["client_id", "client_name", "client_uri", "grant_id"] as const;

function checkOAuthBinding(v: unknown): void {
  const b = object(v, "oauth", OAUTH_BINDING_FIELDS, OAUTH_BINDING_FIELDS);
  if (typeof b.client_id !== "string" || b.client_id.length < 1 || b.client_id.length > 2048 || CONTROL_RE.test(b.client_id)) fail("oauth.client_id", "must be 1-2048 characters");
  if (b.client_name !== null) checkName(b.client_name, "oauth.client_name");
  if (b.client_uri !== null && (typeof b.client_uri !== "string" || !/^https?:\/\/[^\s]+$/.test(b.client_uri) || b.client_uri.length > 2048 || CONTROL_RE.test(b.client_uri))) {
    fail("oauth.client_uri", "must be an http(s) URL of at most 2048 characters");
  }
  if (typeof b.grant_id !== "string" || b.grant_id.length < 1 || b.grant_id.length > 256 || CONTROL_RE.test(b.grant_id)) fail("oauth.grant_id", "must be 1-256 characters");
}

export function validateTokenRecord(v: unknown): asserts v is TokenRecord {
  const r = object(v, "", TOKEN_FIELDS_WITH_OAUTH, TOKEN_FIELDS, "record");
  checkId(r.id, "id");
  const kind = checkOneOf(r.kind, STORED_TOKEN_KINDS, "kind");
  checkName(r.name, "name");
  checkHash(r.hash, "hash");

  if (kind === "project") {
    if (r.user_id !== null) fail("user_id", "must be null for project tokens");
    checkId(r.project_id, "project_id");
  } else {
    checkUserId(r.user_id, "user_id");
    if (r.project_id !== null) fail("project_id", `must be null for ${kind} tokens`);
  }

  if (!Array.isArray(r.scopes)) fail("scopes", "must be an array");
  r.scopes.forEach((s, i) => checkOneOf(s, SCOPES, `scopes[${i}]`));
  if (new Set(r.scopes).size !== r.scopes.length) fail("scopes", "must not contain duplicates");
  if (kind === "mcp") {
    if (r.scopes.length !== 0) fail("scopes", "must be empty for mcp tokens");
  } else if (r.scopes.length === 0) {
    fail("scopes", `must not be empty for ${kind} tokens`);
  }

  checkGrants(r.grants, "grants");
  if (kind !== "mcp" && (r.grants as unknown[]).length !== 0) fail("grants", `must be empty for ${kind} tokens`);

  checkDate(r.created_at, "created_at");
  checkNullableDate(r.expires_at, "expires_at");
  checkNullableDate(r.revoked_at, "revoked_at");
  checkNullableDate(r.last_used_at, "last_used_at");
  if (r.oauth !== undefined) {
    if (kind !== "mcp") fail("oauth", "only mcp tokens are issued by OAuth");
    checkOAuthBinding(r.oauth);
  }
}

const PATCH_FIELDS = ["name", "grants"] as const;

/** Shape of the patch only; backends then validate the patched record with validateTokenRecord. */
export function validateTokenPatch(v: unknown): asserts v is TokenPatch {
  const p = object(v, "", PATCH_FIELDS, [], "patch");
  if (p.name !== undefined) checkName(p.name, "name");
  if (p.grants !== undefined) checkGrants(p.grants, "grants");
}

/** Applies a validated patch to a record and validates the result (e.g. grants on a global token). */
export function applyTokenPatch(record: TokenRecord, patch: TokenPatch): TokenRecord {
  validateTokenPatch(patch);
  const next: TokenRecord = { ...record };
  if (patch.name !== undefined) next.name = patch.name;
  if (patch.grants !== undefined) next.grants = patch.grants.map((g) => ({ ...g }));
  validateTokenRecord(next);
  return next;
}

const USER_FIELDS = ["id", "system_role"] as const;

export function validateUser(v: unknown): asserts v is User {
  const u = object(v, "", USER_FIELDS, USER_FIELDS, "user");
  checkUserId(u.id, "id");
  checkOneOf(u.system_role, SYSTEM_ROLES, "system_role");
}

const PROJECT_FIELDS = ["id", "name", "public"] as const;

export function validateProject(v: unknown): asserts v is Project {
  const p = object(v, "", PROJECT_FIELDS, PROJECT_FIELDS, "project");
  checkId(p.id, "id");
  checkName(p.name, "name");
  if (typeof p.public !== "boolean") fail("public", "must be a boolean");
}

export function validateCollaborator(v: Collaborator): void {
  checkId(v.project_id, "project_id");
  checkUserId(v.user_id, "user_id");
  checkOneOf(v.role, COLLABORATOR_ROLES, "role");
}

const TEMP_TOKEN_FIELDS = ["hash", "user_id", "expires_at"] as const;
/** Bounds the per-user slots a backend may have to try. */
const MAX_LIVE_TEMP_TOKENS_MAX = 100;

export function validateTempToken(v: unknown): asserts v is TempToken {
  const t = object(v, "", TEMP_TOKEN_FIELDS, TEMP_TOKEN_FIELDS, "token");
  checkHash(t.hash, "hash");
  checkUserId(t.user_id, "user_id");
  checkDate(t.expires_at, "expires_at");
}

export function validateLiveTempTokenLimit(v: unknown): asserts v is LiveTempTokenLimit {
  const l = object(v, "", ["now", "maxLive"], ["now", "maxLive"], "limit");
  checkDate(l.now, "now");
  const max = l.maxLive;
  if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > MAX_LIVE_TEMP_TOKENS_MAX) fail("maxLive", `must be an integer in 1..${MAX_LIVE_TEMP_TOKENS_MAX}`);
}

const BROWSER_SESSION_FIELDS = ["hash", "user_id", "created_at", "expires_at"] as const;

export function validateBrowserSession(v: unknown): asserts v is BrowserSession {
  const s = object(v, "", BROWSER_SESSION_FIELDS, BROWSER_SESSION_FIELDS, "session");
  checkHash(s.hash, "hash");
  checkUserId(s.user_id, "user_id");
  const created = checkDate(s.created_at, "created_at");
  if (checkDate(s.expires_at, "expires_at") <= created) fail("expires_at", "must be later than created_at");
}

export interface RateLimitArgs {
  key: string;
  limit: number;
  windowMs: number;
  consume: boolean;
  session?: McpSessionRef;
}

export function validateRateLimitArgs(key: unknown, limit: unknown, windowMs: unknown, options: unknown): RateLimitArgs {
  if (typeof key !== "string" || key.length === 0 || key.length > RATE_KEY_MAX) fail("key", `must be a string of 1..${RATE_KEY_MAX} characters`);
  if (!Number.isInteger(limit) || (limit as number) < 0 || (limit as number) > RATE_LIMIT_MAX) fail("limit", `must be an integer in 0..${RATE_LIMIT_MAX}`);
  if (!Number.isInteger(windowMs) || (windowMs as number) < 1 || (windowMs as number) > RATE_WINDOW_MAX_MS) fail("windowMs", `must be an integer in 1..${RATE_WINDOW_MAX_MS}`);
  let consume = true;
  if (options !== undefined) {
    const o = object(options, "options", ["consume", "session"], []);
    if (o.consume !== undefined && typeof o.consume !== "boolean") fail("options.consume", "must be a boolean");
    consume = o.consume !== false;
    if (o.session !== undefined) {
      const session = validateMcpSessionRef(o.session, "options.session");
      if (!key.includes(`{${session.partition}}`)) fail("options.session.partition", "must be written in the key as {partition}");
      return { key, limit: limit as number, windowMs: windowMs as number, consume, session };
    }
  }
  return { key, limit: limit as number, windowMs: windowMs as number, consume };
}

// ------------------------------------------------------------------------------------- oauth

const OAUTH_MODEL_RE = /^[A-Za-z]{1,64}$/;
const OAUTH_ENTRY_FIELDS = ["model", "id", "payload", "grant_id", "uid", "token_id", "expires_at"] as const;
const MAX_OAUTH_PAYLOAD = 65_536;

export function isValidOAuthKey(model: unknown, id: unknown): boolean {
  return typeof model === "string" && OAUTH_MODEL_RE.test(model) && typeof id === "string" && id.length > 0 && id.length <= 256;
}

function checkNullableKey(v: unknown, field: string): void {
  if (v !== null && (typeof v !== "string" || v.length === 0 || v.length > 256)) fail(field, "must be null or 1-256 characters");
}

export function validateOAuthEntry(v: unknown): void {
  const e = object(v, "", OAUTH_ENTRY_FIELDS, OAUTH_ENTRY_FIELDS, "oauth entry");
  if (!isValidOAuthKey(e.model, "x")) fail("model", "must be 1-64 letters");
  if (!isValidOAuthKey("x", e.id)) fail("id", "must be 1-256 characters");
  if (typeof e.payload !== "string" || e.payload.length > MAX_OAUTH_PAYLOAD) fail("payload", `must be JSON text of at most ${MAX_OAUTH_PAYLOAD} characters`);
  checkNullableKey(e.grant_id, "grant_id");
  checkNullableKey(e.uid, "uid");
  checkNullableKey(e.token_id, "token_id");
  checkNullableDate(e.expires_at, "expires_at");
}

/** Session ids as MCP allows them: visible ASCII. */
export const SESSION_ID_RE = /^[\x21-\x7e]{1,256}$/;
const BINDING_ID_MAX = 256;

export function validateMcpSessionRef(v: unknown, field = "session"): McpSessionRef {
  const o = object(v, field, ["session_id", "partition", "binding_id", "ttl_ms"], ["session_id", "partition", "binding_id", "ttl_ms"]);
  if (typeof o.session_id !== "string" || !SESSION_ID_RE.test(o.session_id)) fail(`${field}.session_id`, "must be 1..256 visible ASCII characters");
  if (typeof o.partition !== "string" || o.partition.length === 0 || o.partition.length > RATE_KEY_MAX) fail(`${field}.partition`, `must be a string of 1..${RATE_KEY_MAX} characters`);
  if (typeof o.binding_id !== "string" || o.binding_id.length === 0 || o.binding_id.length > BINDING_ID_MAX) fail(`${field}.binding_id`, `must be a string of 1..${BINDING_ID_MAX} characters`);
  if (!Number.isInteger(o.ttl_ms) || (o.ttl_ms as number) < 1 || (o.ttl_ms as number) > RATE_WINDOW_MAX_MS) fail(`${field}.ttl_ms`, `must be an integer in 1..${RATE_WINDOW_MAX_MS}`);
  return { session_id: o.session_id, partition: o.partition, binding_id: o.binding_id, ttl_ms: o.ttl_ms as number };
}
