import { z } from "zod";
import { RATE_LIMIT_CLASS, type GrantViolation, type PolicyDecision, type RouteInfo } from "./types.js";

// The policy's answers are checked before use: anything off-shape counts as no answer (deny).
const nullableString = z.string().nullable();
const access = z.enum(["read", "write"]).nullable();
const rateLimitClass = z.string().regex(RATE_LIMIT_CLASS).nullable();

const decisionSchema = z.object({
  allow: z.boolean(),
  status: z.union([z.literal(200), z.literal(400), z.literal(401), z.literal(403), z.literal(429)]),
  reasons: z.array(z.string()),
  access,
  route: nullableString,
  project_id: nullableString,
  rate_limit_class: rateLimitClass,
  rate_limit_applies: z.boolean(),
  rate_limit_key: nullableString,
  trigger_allowed: z.boolean(),
  granted_projects: z.array(z.string()).nullable(),
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
});

export function isPolicyDecision(value: unknown): value is PolicyDecision {
  return decisionSchema.safeParse(value).success;
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
