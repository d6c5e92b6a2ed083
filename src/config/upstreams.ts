import { z } from "zod";
import { absoluteUrl } from "./urls.js";

// TOLLGATE_UPSTREAMS (issue 12 §1): the protected APIs and MCP servers behind the gateway, each
// under a path prefix of its own. TOLLGATE_UPSTREAM_URL is the shorthand for one upstream under
// /api/. Which upstream serves a request is decided by src/gateway/upstreams.ts; whether the
// request is allowed, by the policy's route table alone.

export type UpstreamAuth = "identity-headers" | "oauth";

export interface UpstreamConfig {
  /** ^[a-z0-9-]{1,64}$, unique: names the upstream in URLs (/oauth/upstream/{name}/connect), stores and logs. */
  readonly name: string;
  /** Under /api/, ending in /: the requests it serves (the longest matching prefix wins). */
  readonly prefix: string;
  /** http(s), no user info, query or fragment; the request target is appended to its path unchanged. */
  readonly url: URL;
  /** identity-headers: the upstream trusts Tollgate's identity headers; oauth: it also wants the user's own upstream token. */
  readonly auth: UpstreamAuth;
  /** oauth only: the scopes Tollgate asks the upstream's authorization server for (empty: its defaults). */
  readonly scopes: readonly string[];
}

/** Tollgate's own routes (MCP token self-service) under /api/: no upstream may serve them. */
export const TOKENS_ROUTES_PREFIX = "/api/v1/mcp/tokens";

/** A path of plain segments (no empty, "." or ".." segment, nothing to decode) under /api/, ending in /. */
const PREFIX = /^\/api\/(?:(?![.]{1,2}\/)[A-Za-z0-9._~-]+\/)*$/;
/** An OAuth scope token (RFC 6749 §3.3: NQCHAR, no space, quote or backslash). */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

const upstreamSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9-]{1,64}$/, "must be 1-64 of a-z 0-9 -"),
    prefix: z.string().regex(PREFIX, "must be a path under /api/ ending in / (plain segments: A-Z a-z 0-9 . _ ~ -)"),
    url: z.string(),
    auth: z.enum(["identity-headers", "oauth"]),
    scopes: z.array(z.string().regex(SCOPE, "must be an OAuth scope (no spaces, quotes or backslashes)")).optional(),
  })
  .superRefine((u, ctx) => {
    if (u.scopes !== undefined && u.auth !== "oauth") ctx.addIssue({ code: "custom", path: ["scopes"], message: 'applies only to auth "oauth"' });
    if (`${u.prefix}`.startsWith(`${TOKENS_ROUTES_PREFIX}/`)) ctx.addIssue({ code: "custom", path: ["prefix"], message: `must not lie under ${TOKENS_ROUTES_PREFIX} (Tollgate's own routes)` });
  });

/**
 * TOLLGATE_UPSTREAMS (a JSON list) or TOLLGATE_UPSTREAM_URL (its shorthand), never both; every
 * problem appended. Neither: no upstream (allowed requests answer 503 upstream_not_configured).
 */
export function parseUpstreams(listRaw: string | undefined, urlRaw: string | undefined, problems: string[]): UpstreamConfig[] {
  if (listRaw !== undefined && urlRaw !== undefined) {
    problems.push("set TOLLGATE_UPSTREAMS (a list of upstreams) or TOLLGATE_UPSTREAM_URL (its shorthand for one under /api/), not both");
    return [];
  }
  if (urlRaw !== undefined) {
    const url = absoluteUrl(urlRaw);
    if (typeof url === "string") {
      problems.push(`TOLLGATE_UPSTREAM_URL ${url}`); // not quoted: it may hold a password
      return [];
    }
    return [{ name: "default", prefix: "/api/", url, auth: "identity-headers", scopes: [] }];
  }
  if (listRaw === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(listRaw);
  } catch {
    problems.push('TOLLGATE_UPSTREAMS is not valid JSON (example: [{"name":"wiki","prefix":"/api/wiki/","url":"https://wiki.internal","auth":"oauth"}])');
    return [];
  }
  const result = z.array(upstreamSchema).min(1, "must list at least one upstream (or be unset)").safeParse(parsed);
  const before = problems.length;
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`TOLLGATE_UPSTREAMS${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${issue.message}`);
  }
  // The checks across entries and of the URLs run whatever else is wrong, so every problem is told at once.
  const entries = Array.isArray(parsed) ? parsed : [];
  const upstreams: UpstreamConfig[] = [];
  const seen = { name: new Map<string, number>(), prefix: new Map<string, number>() };
  entries.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null) return;
    const { name, prefix, url: rawUrl, auth, scopes } = entry as Record<string, unknown>;
    for (const [field, value] of [["name", name], ["prefix", prefix]] as const) {
      if (typeof value !== "string") continue;
      const first = seen[field].get(value);
      if (first !== undefined) problems.push(`TOLLGATE_UPSTREAMS[${i}].${field}: "${value}" is already upstream [${first}]'s`);
      else seen[field].set(value, i);
    }
    if (typeof rawUrl !== "string") return;
    const url = absoluteUrl(rawUrl);
    if (typeof url === "string") problems.push(`TOLLGATE_UPSTREAMS[${i}].url ${url}`); // not quoted: it may hold a password
    else upstreams.push({ name: name as string, prefix: prefix as string, url, auth: auth as UpstreamAuth, scopes: (scopes as string[] | undefined) ?? [] });
  });
  return problems.length === before ? upstreams : [];
}
