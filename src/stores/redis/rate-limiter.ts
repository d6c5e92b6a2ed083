import { Cluster } from "ioredis";
import { CircuitBreaker, type CircuitBreakerOptions } from "../circuit-breaker.js";
import { SUB_WINDOWS, subWindowUs } from "../rate-window.js";
import { validateRateLimitArgs } from "../validate.js";
import { BackendUnavailableError, type McpSessionRef, type RateLimiter, type RateLimitOptions, type RateLimitResult } from "../types.js";
import { serverOf, type RedisClient } from "./client.js";
import { monotonicUs, RedisClockOffset } from "./clock.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { SESSION_STATES, sessionCheckLua } from "./mcp-session-store.js";

/**
 * The rolling window of rate-window.ts in one hash per key and window, one script run per hit, so
 * it is atomic. The clock is the Redis server's (TIME, µs), shared by every Tollgate instance.
 * Fields: `t` hits counted, `o` the oldest sub-window holding hits, `<n>` hits in sub-window n
 * (numbers through string.format('%.0f'): Lua would print 15-digit numbers with 14 significant
 * digits). A hit expires at most S+1 sub-windows, each once, so the work is O(1) amortised and
 * the hash holds at most S+3 small fields (a listpack) whatever the limit.
 *
 * A script that starts at or after ARGV[4] (a deadline in Redis TIME µs) does nothing: a command
 * the client gave up on long ago, held on the socket or in the offline queue by a hung or
 * restarting server, cannot count when it finally runs.
 *
 * KEYS[1] the hash; ARGV: limit, sub-window µs, consume (1|0), deadline µs.
 * Returns {allowed 1|0, or -1 when past the deadline; hits counted; ms until the oldest counted
 * sub-window leaves; Redis TIME µs; the sub-window the hit was counted in, or -1}.
 *
 * With a session check (the MCP endpoint's hot path): also KEYS[2] the session, ARGV[5] the
 * binding id, ARGV[6] its lifetime (ms), and the reply's sixth element is the session's state
 * (mcp-session-store.ts), checked before the hit is counted.
 */
function rollingWindowLua(withSession: boolean): string {
  return `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local sub = tonumber(ARGV[2])
local S = ${SUB_WINDOWS}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now >= tonumber(ARGV[4]) then return {-1, 0, 0, now, -1} end
${withSession ? sessionCheckLua(2, 5) : ""}local function name(n) return string.format('%.0f', n) end
local current = math.floor(now / sub)
local first = current - S
local state = redis.call('HMGET', key, 't', 'o')
local total = tonumber(state[1]) or 0
local oldest = tonumber(state[2])
if oldest and oldest + S < first then
  redis.call('DEL', key)
  total, oldest = 0, nil
elseif oldest then
  local moved = false
  while oldest < first do
    local hits = redis.call('HGET', key, name(oldest))
    if hits then
      total = total - tonumber(hits)
      redis.call('HDEL', key, name(oldest))
    end
    oldest, moved = oldest + 1, true
  end
  local last = oldest + S
  while total > 0 and oldest <= last and redis.call('HEXISTS', key, name(oldest)) == 0 do
    oldest, moved = oldest + 1, true
  end
  if total <= 0 or oldest > last then
    redis.call('DEL', key)
    total, oldest = 0, nil
  elseif moved then
    redis.call('HSET', key, 't', total, 'o', name(oldest))
  end
end
local allowed, charged = 0, -1
if total < limit then
  allowed = 1
  if ARGV[3] == '1' then
    charged = current
    if oldest and oldest > charged then charged = oldest end
    if not oldest then oldest = charged end
    redis.call('HINCRBY', key, name(charged), 1)
    total = total + 1
    redis.call('HSET', key, 't', total, 'o', name(oldest))
    redis.call('PEXPIRE', key, math.ceil(((charged + S + 1) * sub - now) / 1000))
  end
end
local reset = 0
if oldest then reset = math.max(0, math.ceil(((oldest + S + 1) * sub - now) / 1000)) end
return {allowed, total, reset, now, charged${withSession ? ", session" : ""}}
`;
}

export const ROLLING_WINDOW_LUA = rollingWindowLua(false);
export const ROLLING_WINDOW_SESSION_LUA = rollingWindowLua(true);

/**
 * Takes back one hit counted in sub-window ARGV[1], if it is still counted: for a reply that
 * arrived after the client had given up (and answered as if Redis were down).
 */
export const REFUND_LUA = `
local key = KEYS[1]
local hits = tonumber(redis.call('HGET', key, ARGV[1]))
if not hits then return 0 end
if hits > 1 then redis.call('HINCRBY', key, ARGV[1], -1) else redis.call('HDEL', key, ARGV[1]) end
if redis.call('HINCRBY', key, 't', -1) <= 0 then redis.call('DEL', key) end
return 1
`;

/** Redis TIME on the cluster master holding KEYS[1] (TIME alone goes to any node). */
export const KEY_SERVER_TIME_LUA = "return redis.call('TIME')";

const HIT = "tollgateRateHit";
const HIT_SESSION = "tollgateRateHitSession";
const REFUND = "tollgateRateRefund";
const TIME = "tollgateKeyServerTime";

type ScriptClient = RedisClient & {
  [HIT](key: string, limit: number, subUs: number, consume: "0" | "1", deadlineUs: number): Promise<unknown>;
  [HIT_SESSION](key: string, sessionKey: string, limit: number, subUs: number, consume: "0" | "1", deadlineUs: number, bindingId: string, ttlMs: number): Promise<unknown>;
  [REFUND](key: string, subWindow: string): Promise<unknown>;
  [TIME](key: string): Promise<unknown>;
};

type Reply = [allowed: -1 | 0 | 1, counted: number, resetMs: number, redisUs: number, charged: number, session?: -1 | 0 | 1];

export const DEFAULT_REDIS_TIMEOUT_MS = 50;

/**
 * A script may still run and count this long after we gave up; its late reply is then refunded.
 * It absorbs the clock offset's error (an event loop too busy to read a reply at once makes the
 * offset err low, which would otherwise make every script look late), and stays well below
 * ioredis's command timeout (2 s, client.ts) so that late replies still arrive. Commands held
 * longer, by a hung or restarting server, run past the deadline and count nothing.
 */
const DEADLINE_SLACK_MS = 1_000;

export interface RedisRateLimiterOptions {
  /** Key namespace (see keys.ts). Default "tollgate". */
  namespace?: string;
  /** The longest a hit waits for Redis, ms (TOLLGATE_REDIS_TIMEOUT_MS). Default 50. */
  timeoutMs?: number;
  /** After a failure or timeout, hits fail at once until a probe succeeds. */
  breaker?: CircuitBreakerOptions;
}

/**
 * Redis rolling-window limiter. Every hit waits at most `timeoutMs`; a failure or timeout opens
 * the circuit breaker, so later hits fail at once (BackendUnavailableError: the caller's fail
 * mode decides) until a probe hit succeeds. Nothing stays counted for a hit that failed: a reply
 * that comes back counted after we gave up is refunded, and a script that runs later than that
 * could be (past a deadline in Redis TIME, learned from Redis's own clock, so the hosts' clocks
 * need not agree) does nothing. Keys expire when their last counted sub-window leaves.
 *
 * On a Redis Cluster every script touches one key, so it runs on that key's master, and each
 * master's clock is learned apart (their hosts' clocks need not agree either).
 */
export class RedisRateLimiter implements RateLimiter {
  readonly breaker: CircuitBreaker;
  private readonly client: ScriptClient;
  private readonly keys: RedisKeys;
  private readonly timeoutMs: number;
  /** Redis's clock against ours, per server (one, or each cluster master by address). */
  private readonly clocks = new Map<string, RedisClockOffset>();
  /** Calibrations under way, by server (null: a key whose slot's master is not known yet). */
  private readonly calibrating = new Map<string | null, Promise<void>>();

  constructor(client: RedisClient, options: RedisRateLimiterOptions = {}) {
    this.keys = redisKeys(options.namespace);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.breaker = new CircuitBreaker(options.breaker);
    // defineCommand sends EVALSHA and falls back to EVAL (loading the script) on NOSCRIPT.
    client.defineCommand(HIT, { numberOfKeys: 1, lua: ROLLING_WINDOW_LUA });
    client.defineCommand(HIT_SESSION, { numberOfKeys: 2, lua: ROLLING_WINDOW_SESSION_LUA });
    client.defineCommand(REFUND, { numberOfKeys: 1, lua: REFUND_LUA });
    client.defineCommand(TIME, { numberOfKeys: 1, lua: KEY_SERVER_TIME_LUA });
    this.client = client as ScriptClient;
  }

  async hit(key: string, limit: number, windowMs: number, options?: RateLimitOptions): Promise<RateLimitResult> {
    const args = validateRateLimitArgs(key, limit, windowMs, options);
    const pass = this.breaker.acquire();
    if (!pass) throw new BackendUnavailableError("redis", new Error("circuit open after a failure; waiting for a probe to succeed"));
    try {
      const [allowed, counted, resetMs, , , session] = await this.run(this.keys.rateLimit(args.key, args.windowMs), args.limit, subWindowUs(args.windowMs), args.consume, args.session);
      this.breaker.succeeded(pass);
      const result: RateLimitResult = { allowed: allowed === 1, limit: args.limit, remaining: Math.max(0, args.limit - counted), reset_ms: resetMs };
      if (session !== undefined) result.session = SESSION_STATES[session];
      return result;
    } catch (e) {
      this.breaker.failed(pass);
      throw new BackendUnavailableError("redis", e);
    }
  }

  private async run(key: string, limit: number, subUs: number, consume: boolean, session: McpSessionRef | undefined): Promise<Reply> {
    const giveUpUs = monotonicUs() + this.timeoutMs * 1000;
    // Again when a calibration learned another server's clock: one shared while the slot map was
    // not loaded yet, or one whose slot moved meanwhile. Bounded by the timeout (within throws).
    while (this.offsetFor(key) === null) await within(this.calibrate(key), giveUpUs);
    const server = serverOf(this.client, key)!;
    const offsetUs = this.offsetFor(key)!;
    const sentUs = monotonicUs();
    if (sentUs >= giveUpUs) throw new Error(`no answer from Redis within ${this.timeoutMs} ms`);
    // In the key's server's TIME: from then on the script does nothing.
    const deadlineUs = Math.floor(giveUpUs + DEADLINE_SLACK_MS * 1000 + offsetUs);
    const flag = consume ? "1" : "0";
    const sent = session
      ? this.client[HIT_SESSION](key, this.keys.mcpSession(session.partition, session.session_id), limit, subUs, flag, deadlineUs, session.binding_id, session.ttl_ms)
      : this.client[HIT](key, limit, subUs, flag, deadlineUs);
    const reply = await within(sent, giveUpUs, (late) => this.settleLate(key, server, sentUs, late, session !== undefined));
    const parsed = parse(reply, session !== undefined);
    this.sample(key, server, sentUs, parsed[3]);
    if (parsed[0] === -1) throw new Error("Redis ran the rate-limit script after its deadline; nothing was counted");
    return parsed;
  }

  private offsetFor(key: string): number | null {
    const server = serverOf(this.client, key);
    return server === null ? null : (this.clocks.get(server)?.us ?? null);
  }

  /**
   * Learns from a reply sent to `sentTo` (null: not known when sent) carrying Redis time. A slot
   * that moved meanwhile (the client followed a MOVED) makes the reply another server's: skipped.
   */
  private sample(key: string, sentTo: string | null, sentUs: number, redisUs: number): void {
    const server = serverOf(this.client, key);
    if (server === null || (sentTo !== null && sentTo !== server)) return;
    let clock = this.clocks.get(server);
    if (!clock) this.clocks.set(server, (clock = new RedisClockOffset()));
    clock.sample(sentUs, redisUs, monotonicUs());
  }

  /** A reply that came after we gave up: learn the clock from it, and take back what it counted. */
  private settleLate(key: string, sentTo: string, sentUs: number, reply: unknown, withSession: boolean): void {
    let parsed: Reply;
    try {
      parsed = parse(reply, withSession);
    } catch {
      return;
    }
    this.sample(key, sentTo, sentUs, parsed[3]);
    if (parsed[4] >= 0) this.client[REFUND](key, String(parsed[4])).catch(() => {}); // best effort
  }

  /** Learns the clock of the server holding `key` before its first hit; concurrent first hits share one. */
  private calibrate(key: string): Promise<void> {
    const server = serverOf(this.client, key);
    let calibrating = this.calibrating.get(server);
    if (!calibrating) {
      calibrating = (async () => {
        const sentUs = monotonicUs();
        // One server: TIME itself (no script to load on the first call). A cluster: through the key's slot.
        const [s, us] = (this.client instanceof Cluster ? await this.client[TIME](key) : await this.client.time()) as [string | number, string | number];
        this.sample(key, server, sentUs, Number(s) * 1_000_000 + Number(us));
      })().finally(() => this.calibrating.delete(server));
      this.calibrating.set(server, calibrating);
    }
    return calibrating;
  }
}

function parse(reply: unknown, withSession = false): Reply {
  if (
    !Array.isArray(reply) ||
    // A script past its deadline (-1) returns before it checks the session.
    reply.length !== (withSession && reply[0] !== -1 ? 6 : 5) ||
    !reply.every((n) => typeof n === "number") ||
    ![-1, 0, 1].includes(reply[0] as number) ||
    (reply.length === 6 && ![-1, 0, 1].includes(reply[5] as number))
  ) {
    throw new Error(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`);
  }
  return reply as Reply;
}

/**
 * `pending`, or a rejection at `giveUpUs` (monotonic µs). A reply already read off the socket in
 * the loop turn the timer fires in still wins (setImmediate runs after the poll phase), so a busy
 * event loop alone does not make Redis look down. `onLate` gets a value that came too late.
 */
function within<T>(pending: Promise<T>, giveUpUs: number, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new Error("no answer from Redis within the timeout"));
        }),
      Math.max(0, (giveUpUs - monotonicUs()) / 1000),
    );
    pending.then(
      (value) => {
        if (settled) return onLate?.(value);
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
