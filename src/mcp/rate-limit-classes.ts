import { ConfigError, ROUTE_RATE_LIMIT_CLASSES, type RateLimits } from "../config/config.js";

/**
 * The rate-limit classes of TOLLGATE_RATE_LIMITS.mcp against the policy's tool table: every
 * class the table names needs a limit (a policy reloaded later that names one without denies its
 * messages with policy_error), and a limit for a class nothing uses is a typo. Tollgate does not
 * start with either.
 */
export function requireMcpRateLimits(toolTableClasses: string[], limits: RateLimits): void {
  const problems = toolTableClasses
    .filter((c) => !Object.hasOwn(limits.mcp, c))
    .map((c) => `the policy's tool table names the rate-limit class "${c}": set its limit in TOLLGATE_RATE_LIMITS.mcp (e.g. {"mcp":{"${c}":10}})`);
  const used = new Set<string>([...ROUTE_RATE_LIMIT_CLASSES, ...toolTableClasses]);
  for (const c of Object.keys(limits.mcp)) {
    if (!used.has(c)) problems.push(`TOLLGATE_RATE_LIMITS.mcp.${c}: neither the route table nor the policy's tool table names this class`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
