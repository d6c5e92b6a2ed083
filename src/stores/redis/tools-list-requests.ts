import { BackendUnavailableError, type JsonRpcRequestId, type ToolsListRequestStore } from "../types.js";
import type { RedisClient } from "./client.js";
import { redisKeys, type RedisKeys } from "./keys.js";

/**
 * Every replica's tools/list ids: one set per caller (one key, so one cluster slot), its expiry
 * pushed back on every record. Record is one MULTI (SADD, PEXPIRE); the check one SISMEMBER.
 * A failed or unanswered call is BackendUnavailableError: the gateway then refuses rather than
 * let an answer through unfiltered.
 */
export class RedisToolsListRequestStore implements ToolsListRequestStore {
  readonly #keys: RedisKeys;

  constructor(
    private readonly client: RedisClient,
    options: { namespace?: string } = {},
  ) {
    this.#keys = redisKeys(options.namespace);
  }

  async record(caller: string, id: JsonRpcRequestId, ttlMs: number): Promise<void> {
    const key = this.#keys.toolsListRequests(caller);
    try {
      const replies = await this.client.multi().sadd(key, JSON.stringify(id)).pexpire(key, Math.max(1, Math.ceil(ttlMs))).exec();
      const failed = replies?.find(([err]) => err !== null);
      if (!replies || failed) throw failed?.[0] ?? new Error("the transaction was discarded");
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }

  async has(caller: string, id: JsonRpcRequestId): Promise<boolean> {
    try {
      return (await this.client.sismember(this.#keys.toolsListRequests(caller), JSON.stringify(id))) === 1;
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}
