import { z } from "zod";
import { RATE_LIMIT_CLASS, type AdminDecision, type GrantViolation, type PolicyDecision, type RouteInfo } from "./types.js";

// The policy's answers are checked before use: anything off-shape counts as no answer (deny).
const nullableString = z.string().nullable();
const access = z.enum(["read", "write"]).nullable();
const rateLimitClass = z.string().regex(RATE_LIMIT_CLASS).nullable();

export const policyDecisionSchema = z.object({
  allow: z.boolean(),
  status: z.union([z.literal(200), z.literal(400), z.literal(401), z.literal(403), z.literal(404), z.literal(429)]),
  reasons: z.array(z.string()),
  access,
  route: nullableString,
  project_id: nullableString,
  rate_limit_class: rateLimitClass,
  rate_limit_applies: z.boolean(),
  rate_limit_key: nullableString,
  trigger_allowed: z.boolean(),
  granted_projects: z.array(z.string()).nullable(),
  mcp_tools: z.array(z.string()).nullable(),
}).refine((d) => d.allow === (d.status === 200), "allow must agree with status");

const routeSchema = z.object({
  valid_path: z.boolean(),
  pattern: nullableString,
  namespace: z.enum(["projects", "admin", "user", "mcp", "mcp_tokens"]).nullable(),
  access,
  rate_limit_class: rateLimitClass,
  sensitive: z.boolean(),
  project_id: nullableString,
  mcp_message: z.boolean(),
  mcp_endpoint: z.boolean(),
});

/**
 * The schema decides; an answer it plainly accepts is recognised by hand first (every decision
 * goes through here). The hand check accepts only what the schema accepts (a property test
 * compares them), so anything it does not recognise still gets the schema's verdict.
 */
export function isPolicyDecision(value: unknown): value is PolicyDecision {
  return plainPolicyDecision(value) || policyDecisionSchema.safeParse(value).success;
}

const STATUSES: ReadonlySet<unknown> = new Set([200, 400, 401, 403, 404, 429]);
const ACCESSES: ReadonlySet<unknown> = new Set(["read", "write"]);

function plainPolicyDecision(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const d = value as Record<string, unknown>;
  return (
    typeof d.allow === "boolean" &&
    STATUSES.has(d.status) &&
    d.allow === (d.status === 200) &&
    isStringArray(d.reasons) &&
    (d.access === null || ACCESSES.has(d.access)) &&
    isNullableString(d.route) &&
    isNullableString(d.project_id) &&
    (d.rate_limit_class === null || (typeof d.rate_limit_class === "string" && RATE_LIMIT_CLASS.test(d.rate_limit_class))) &&
    typeof d.rate_limit_applies === "boolean" &&
    isNullableString(d.rate_limit_key) &&
    typeof d.trigger_allowed === "boolean" &&
    (d.granted_projects === null || isStringArray(d.granted_projects)) &&
    (d.mcp_tools === null || isStringArray(d.mcp_tools))
  );
}

function isNullableString(v: unknown): boolean {
  return v === null || typeof v === "string";
}

function isStringArray(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const item of v) if (typeof item !== "string") return false;
  return true;
}

export function isRouteInfo(value: unknown): value is RouteInfo {
  return routeSchema.safeParse(value).success;
}

const grantViolationsSchema = z.array(z.object({ index: z.number().int(), field: z.string(), reason: z.string() }));

const classesSchema = z.array(z.string().regex(RATE_LIMIT_CLASS));

export function isRateLimitClasses(value: unknown): value is string[] {
  return classesSchema.safeParse(value).success;
}

export function isGrantViolations(value: unknown): value is GrantViolation[] {
  return grantViolationsSchema.safeParse(value).success;
}

// Each refusal with the status its code has in the error catalogue.
const adminDecisionSchema = z.union([
  z.object({ allow: z.literal(true), status: z.literal(200), reason: z.null(), count_failure: z.literal(false) }),
  z.object({ allow: z.literal(false), status: z.literal(401), reason: z.enum(["missing_token", "invalid_token", "expired_token", "revoked_token"]), count_failure: z.boolean() }),
  z.object({ allow: z.literal(false), status: z.literal(403), reason: z.literal("insufficient_role"), count_failure: z.boolean() }),
  z.object({ allow: z.literal(false), status: z.literal(429), reason: z.literal("rate_limited"), count_failure: z.boolean() }),
]);

export function isAdminDecision(value: unknown): value is AdminDecision {
  return adminDecisionSchema.safeParse(value).success;
}
