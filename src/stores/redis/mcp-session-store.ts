import { validateMcpSessionRef } from "../validate.js";
import { BackendUnavailableError, type McpSessionRef, type McpSessionState, type McpSessionStore } from "../types.js";
import type { RedisClient } from "./client.js";
import { redisKeys, type RedisKeys } from "./keys.js";

/**
 * The session check as a Lua fragment: KEYS[n] the session, ARGV[a] the binding id, ARGV[a+1]
 * the lifetime (ms). Sets `session` to 1 (the caller's: its lifetime starts again), 0 (another
 * binding's) or -1 (unknown or expired). The rate limiter's script runs it too, so that the hot
 * path checks the session and counts the hit in one round trip.
 */
export function sessionCheckLua(keyIndex: number, argIndex: number): string {
  return `
local session = -1
local bound = redis.call('GET', KEYS[${keyIndex}])
if bound == ARGV[${argIndex}] then
  session = 1
  redis.call('PEXPIRE', KEYS[${keyIndex}], ARGV[${argIndex + 1}])
elseif bound then
  session = 0
end
`;
}

export const SESSION_STATES: Record<number, McpSessionState> = { 1: "bound", 0: "other", [-1]: "unknown" };

const CHECK_LUA = `${sessionCheckLua(1, 1)}return session`;
const END_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

const CHECK = "tollgateMcpSessionCheck";
const END = "tollgateMcpSessionEnd";

type ScriptClient = RedisClient & {
  [CHECK](key: string, bindingId: string, ttlMs: number): Promise<unknown>;
  [END](key: string, bindingId: string): Promise<unknown>;
};

/**
 * Sessions in Redis: one string per session (the binding id) with the session's lifetime as its
 * TTL, so an idle session expires by itself. A failed call is BackendUnavailableError: the
 * caller fails closed (a session that cannot be checked is not forwarded).
 */
export class RedisMcpSessionStore implements McpSessionStore {
  private readonly client: ScriptClient;
  private readonly keys: RedisKeys;

  constructor(client: RedisClient, options: { namespace?: string } = {}) {
    this.keys = redisKeys(options.namespace);
    client.defineCommand(CHECK, { numberOfKeys: 1, lua: CHECK_LUA });
    client.defineCommand(END, { numberOfKeys: 1, lua: END_LUA });
    this.client = client as ScriptClient;
  }

  async bind(session: McpSessionRef): Promise<void> {
    const s = validateMcpSessionRef(session);
    await this.call(() => this.client.set(this.key(s), s.binding_id, "PX", s.ttl_ms));
  }

  async check(session: McpSessionRef): Promise<McpSessionState> {
    const s = validateMcpSessionRef(session);
    const reply = await this.call(() => this.client[CHECK](this.key(s), s.binding_id, s.ttl_ms));
    const state = SESSION_STATES[reply as number];
    if (!state) throw new BackendUnavailableError("redis", new Error(`unexpected session check reply: ${JSON.stringify(reply)}`));
    return state;
  }

  async end(session: McpSessionRef): Promise<boolean> {
    const s = validateMcpSessionRef(session);
    return (await this.call(() => this.client[END](this.key(s), s.binding_id))) === 1;
  }

  private key(s: McpSessionRef): string {
    return this.keys.mcpSession(s.partition, s.session_id);
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}
