import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { validateRateLimitArgs } from "../validate.js";
import { BackendUnavailableError, StoreError, type RateLimiter, type RateLimitOptions, type RateLimitResult } from "../types.js";
import { redisKeys, type RedisKeys } from "./keys.js";

/**
 * Sliding log in a sorted set, one script run per hit, so it is atomic. The clock is the Redis
 * server's (TIME, microseconds), shared by every Tollgate instance. Scores go through
 * string.format('%.0f') because Lua would print 16-digit numbers with 14 significant digits.
 *
 * KEYS[1] sorted set; ARGV: limit, window ms, consume (1|0), unique member.
 * Returns {allowed 1|0, counted hits, ms until the oldest counted hit leaves the window}.
 */
export const SLIDING_WINDOW_LUA = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window_us))
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  allowed = 1
  if ARGV[3] == '1' then
    redis.call('ZADD', key, string.format('%.0f', now), ARGV[4])
    redis.call('PEXPIRE', key, ARGV[2])
    count = count + 1
  end
end
local reset_ms = 0
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then
  reset_ms = math.ceil((tonumber(oldest[2]) + window_us - now) / 1000)
  if reset_ms < 0 then reset_ms = 0 end
end
return {allowed, count, reset_ms}
`;

const COMMAND = "tollgateSlidingWindow";

type ScriptClient = Redis & {
  [COMMAND](key: string, limit: number, windowMs: number, consume: "0" | "1", member: string): Promise<unknown>;
};

export interface RedisRateLimiterOptions {
  /** Key namespace (see keys.ts). Default "tollgate". */
  namespace?: string;
}

/** Redis sliding-log limiter. Keys expire windowMs after their last counted hit. */
export class RedisRateLimiter implements RateLimiter {
  private readonly client: ScriptClient;
  private readonly keys: RedisKeys;
  /** Members must be unique within a key: a per-instance random id plus a counter. */
  private readonly instance = randomBytes(6).toString("base64url");
  private seq = 0;

  constructor(client: Redis, options: RedisRateLimiterOptions = {}) {
    this.keys = redisKeys(options.namespace);
    // defineCommand sends EVALSHA and falls back to EVAL (loading the script) on NOSCRIPT.
    client.defineCommand(COMMAND, { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    this.client = client as ScriptClient;
  }

  async hit(key: string, limit: number, windowMs: number, options?: RateLimitOptions): Promise<RateLimitResult> {
    const args = validateRateLimitArgs(key, limit, windowMs, options);
    const member = `${this.instance}:${(this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER)}`;
    let reply: unknown;
    try {
      reply = await this.client[COMMAND](this.keys.rateLimit(args.key), args.limit, args.windowMs, args.consume ? "1" : "0", member);
    } catch (e) {
      throw e instanceof StoreError ? e : new BackendUnavailableError("redis", e);
    }
    if (!Array.isArray(reply) || reply.length !== 3 || !reply.every((n) => typeof n === "number")) {
      throw new BackendUnavailableError("redis", new Error(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`));
    }
    const [allowed, count, resetMs] = reply as [number, number, number];
    return {
      allowed: allowed === 1,
      limit: args.limit,
      remaining: Math.max(0, args.limit - count),
      reset_ms: resetMs,
    };
  }
}
