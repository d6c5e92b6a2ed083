// Cross-replica mutual exclusion for the upstream OAuth client's one-at-a-time work: registering
// with an authorization server, refreshing one user's upstream tokens. A lock expires on its own
// (the holder may die), so it guards work that is safe to repeat, never correctness alone.
import { randomBytes } from "node:crypto";
import type { RedisClient } from "../stores/redis/client.js";
import { redisKeys, type RedisKeys } from "../stores/redis/keys.js";
import { BackendUnavailableError } from "../stores/types.js";

export interface Locks {
  /** A token when this caller now holds `name` for `ttlMs`, null when someone else holds it. */
  tryAcquire(name: string, ttlMs: number): Promise<string | null>;
  /** Releases `name` if `token` still holds it (an expired lock taken by another is left alone). */
  release(name: string, token: string): Promise<void>;
}

/** One process (the embedded default, and one replica's share of the work in tests). */
export class MemoryLocks implements Locks {
  readonly #held = new Map<string, { token: string; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async tryAcquire(name: string, ttlMs: number): Promise<string | null> {
    const held = this.#held.get(name);
    if (held && held.until > this.#now()) return null;
    const token = randomBytes(16).toString("base64url");
    this.#held.set(name, { token, until: this.#now() + ttlMs });
    return token;
  }

  async release(name: string, token: string): Promise<void> {
    if (this.#held.get(name)?.token === token) this.#held.delete(name);
  }
}

/** Compare-and-delete: only the holder's token releases the lock. */
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/** Every replica: SET NX PX on one key per lock under the Redis namespace. */
export class RedisLocks implements Locks {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;

  constructor(redis: RedisClient, options: { namespace?: string } = {}) {
    this.#redis = redis;
    this.#keys = redisKeys(options.namespace);
  }

  async tryAcquire(name: string, ttlMs: number): Promise<string | null> {
    const token = randomBytes(16).toString("base64url");
    const set = await this.#call(() => this.#redis.set(this.#keys.upstreamLock(name), token, "PX", ttlMs, "NX"));
    return set === "OK" ? token : null;
  }

  async release(name: string, token: string): Promise<void> {
    await this.#call(() => this.#redis.eval(RELEASE, 1, this.#keys.upstreamLock(name), token));
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new BackendUnavailableError("redis", err);
    }
  }
}

/**
 * Runs `work` while holding `name`; while another holds it, polls `ready` (the other's result in a
 * shared store) and returns what it gives. Throws `timeout()` when neither happens within `waitMs`.
 * `work` is told `heldUntil` (epoch ms, Date.now's clock): the lock is ours until then at least,
 * and may be another's after; what must not happen twice is started only well before it.
 */
export async function onceAcrossReplicas<T>(
  locks: Locks,
  name: string,
  options: { ttlMs: number; waitMs: number; pollMs?: number },
  ready: () => Promise<T | null>,
  work: (heldUntil: number) => Promise<T>,
  timeout: () => Error,
): Promise<T> {
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    // Taken before asking: the lock, if ours, expires no earlier than this.
    const heldUntil = Date.now() + options.ttlMs;
    const token = await locks.tryAcquire(name, options.ttlMs);
    if (token !== null) {
      try {
        // The previous holder may have finished between our look and our lock.
        return (await ready()) ?? (await work(heldUntil));
      } finally {
        await locks.release(name, token).catch(() => undefined);
      }
    }
    const done = await ready();
    if (done !== null) return done;
    if (Date.now() >= deadline) throw timeout();
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 150));
  }
}
