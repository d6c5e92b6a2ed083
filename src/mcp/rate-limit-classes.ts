import { ConfigError, type RateLimits } from "../config/config.js";

/**
 * Every rate-limit class the policy's tool table names needs a limit in TOLLGATE_RATE_LIMITS.mcp:
 * Tollgate does not start without one (a policy reloaded later that names one denies its
 * messages with policy_error).
 */
export function requireMcpRateLimits(classes: string[], limits: RateLimits): void {
  const missing = classes.filter((c) => !Object.hasOwn(limits.mcp, c));
  if (missing.length > 0) {
    throw new ConfigError(missing.map((c) => `the policy's tool table names the rate-limit class "${c}": set its limit in TOLLGATE_RATE_LIMITS.mcp (e.g. {"mcp":{"${c}":10}})`));
  }
}
