// The OAuth authorization server's objects on Redis (docs/oauth.md "What is stored, and where").
// Every key is built in keys.ts; an entry and its consumption marker share the hash tag
// `{model:id}`, so the one multi-key step, consume(), is one script on one node of a cluster.
import { checkDate, isValidOAuthKey, validateOAuthEntry } from "../validate.js";
import { BackendUnavailableError, type OAuthEntry, type OAuthStore, type StoredOAuthEntry } from "../types.js";
import { REDIS_EXPIRY_SLACK_MS, type RedisClient } from "./client.js";
import { redisKeys, type RedisKeys } from "./keys.js";

/** An entry as its key holds it (JSON): the dates in epoch milliseconds. */
interface StoredEntry extends Omit<OAuthEntry, "expires_at"> {
  expires_at: number | null;
}

/**
 * KEYS[1] the entry, KEYS[2] its consumption marker; ARGV[1] when (ms), ARGV[2] the expiry
 * slack (ms). 1 for the one caller that consumes an existing entry, 0 for every other. The
 * marker expires with the entry's key (its expires_at, which for codes and refresh tokens
 * already holds the ten minutes past expiry, plus the slack), and is never replaced (NX).
 */
const CONSUME_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local expires = cjson.decode(raw).expires_at
local set
if type(expires) == 'number' then
  set = redis.call('SET', KEYS[2], ARGV[1], 'PXAT', string.format('%.0f', expires + tonumber(ARGV[2])), 'NX')
else
  set = redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
if set then return 1 end
return 0
`;

/**
 * KEYS[1] a grant's member set; ARGV[1] the member, ARGV[2] its key's expiry (ms) or "" for
 * none. The set lives as long as its longest-lived member.
 */
const ADD_MEMBER_LUA = `
local existed = redis.call('EXISTS', KEYS[1]) == 1
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
elseif existed then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`;

/** KEYS[1] an entry; ARGV[1] a grant id. Deletes the entry (not its consumption) and returns it when it belongs to the grant; else nil. */
const DELETE_IF_GRANT_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
if cjson.decode(raw).grant_id ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return raw
`;

const CONSUME = "tollgateOAuthConsume";
const ADD_MEMBER = "tollgateOAuthAddMember";
const DELETE_IF_GRANT = "tollgateOAuthDeleteIfGrant";

type ScriptClient = RedisClient & {
  [CONSUME](entry: string, consumed: string, at: number, slackMs: number): Promise<unknown>;
  [ADD_MEMBER](members: string, id: string, pxat: string): Promise<unknown>;
  [DELETE_IF_GRANT](entry: string, grantId: string): Promise<string | null>;
};

/**
 * One string per entry (JSON), one marker per consumption, a set of member ids per (model,
 * grant) and a pointer per (model, uid). Expiry is decided at read time with our clock; Redis
 * expires the keys an hour after that (REDIS_EXPIRY_SLACK_MS, so a Redis clock ahead of ours
 * cannot forget a consumption early), which is the pruning: prune() has nothing to do.
 * The sets and pointers are indexes only: what they name is read back and checked.
 */
export class RedisOAuthStore implements OAuthStore {
  readonly #redis: ScriptClient;
  readonly #keys: RedisKeys;

  constructor(redis: RedisClient, options: { namespace?: string } = {}) {
    this.#keys = redisKeys(options.namespace);
    redis.defineCommand(CONSUME, { numberOfKeys: 2, lua: CONSUME_LUA });
    redis.defineCommand(ADD_MEMBER, { numberOfKeys: 1, lua: ADD_MEMBER_LUA });
    redis.defineCommand(DELETE_IF_GRANT, { numberOfKeys: 1, lua: DELETE_IF_GRANT_LUA });
    this.#redis = redis as ScriptClient;
  }

  /** The indexes first, then the entry: an entry is never visible before deleteByGrant() can find it. */
  async upsert(entry: OAuthEntry): Promise<void> {
    validateOAuthEntry(entry);
    const expiresAt = entry.expires_at ? entry.expires_at.getTime() : null;
    const pxat = expiresAt === null ? null : expiresAt + REDIS_EXPIRY_SLACK_MS;
    const stored: StoredEntry = { ...entry, expires_at: expiresAt };
    await this.#call(async () => {
      await Promise.all([
        entry.grant_id === null ? null : this.#redis[ADD_MEMBER](this.#keys.oauthGrantMembers(entry.model, entry.grant_id), entry.id, pxat === null ? "" : String(pxat)),
        entry.uid === null ? null : this.#set(this.#keys.oauthUid(entry.model, entry.uid), entry.id, pxat),
      ]);
      await this.#set(this.#keys.oauthEntry(entry.model, entry.id), JSON.stringify(stored), pxat);
    });
  }

  async find(model: string, id: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (!isValidOAuthKey(model, id)) return null;
    // One slot: one MGET, even on a cluster.
    const [raw, consumedAt] = await this.#call(() => this.#redis.mget(this.#keys.oauthEntry(model, id), this.#keys.oauthConsumed(model, id)));
    if (!raw) return null;
    const entry = fromStored(JSON.parse(raw) as StoredEntry);
    if (entry.expires_at !== null && now >= entry.expires_at) return null;
    return { entry, consumed_at: consumedAt ? new Date(Number(consumedAt)) : null };
  }

  async findByUid(model: string, uid: string, now: Date): Promise<StoredOAuthEntry | null> {
    checkDate(now, "now");
    if (!isValidOAuthKey(model, uid)) return null;
    const id = await this.#call(() => this.#redis.get(this.#keys.oauthUid(model, uid)));
    if (id === null) return null;
    const found = await this.find(model, id, now);
    return found?.entry.uid === uid ? found : null;
  }

  /** One script on the entry's slot: the entry must exist, and the marker is set only if absent. */
  async consume(model: string, id: string, at: Date): Promise<boolean> {
    checkDate(at, "at");
    if (!isValidOAuthKey(model, id)) return false;
    return (await this.#call(() => this.#redis[CONSUME](this.#keys.oauthEntry(model, id), this.#keys.oauthConsumed(model, id), at.getTime(), REDIS_EXPIRY_SLACK_MS))) === 1;
  }

  /** The consumption stays until it lapses (see OAuthStore.consume). */
  async destroy(model: string, id: string): Promise<void> {
    if (!isValidOAuthKey(model, id)) return;
    await this.#call(() => this.#redis.del(this.#keys.oauthEntry(model, id)));
  }

  /** Each member is deleted by a script on its own slot, only if it still belongs to the grant. */
  async deleteByGrant(model: string, grantId: string): Promise<OAuthEntry[]> {
    if (!isValidOAuthKey(model, grantId)) return [];
    const membersKey = this.#keys.oauthGrantMembers(model, grantId);
    return this.#call(async () => {
      const ids = await this.#redis.smembers(membersKey);
      if (ids.length === 0) return [];
      const deleted = await Promise.all(ids.map((id) => this.#redis[DELETE_IF_GRANT](this.#keys.oauthEntry(model, id), grantId)));
      await this.#redis.srem(membersKey, ...ids);
      return deleted.flatMap((raw) => (raw ? [fromStored(JSON.parse(raw) as StoredEntry)] : []));
    });
  }

  /** Redis expires the keys itself. */
  async prune(now: Date): Promise<number> {
    checkDate(now, "now");
    return 0;
  }

  #set(key: string, value: string, pxat: number | null): Promise<unknown> {
    return pxat === null ? this.#redis.set(key, value) : this.#redis.set(key, value, "PXAT", pxat);
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}

function fromStored(s: StoredEntry): OAuthEntry {
  return { model: s.model, id: s.id, payload: s.payload, grant_id: s.grant_id, uid: s.uid, token_id: s.token_id, expires_at: s.expires_at === null ? null : new Date(s.expires_at) };
}
