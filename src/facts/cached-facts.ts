import { LRUCache } from "lru-cache";
import { isValidUserId } from "../domain.js";
import { isValidId } from "../stores/validate.js";
import type { CollaboratorRole, DirectoryStore, Project, TokenRecord, TokenStore, User } from "../stores/types.js";

export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
}

/** What a cache holds: a value, or a remembered absence (LRUCache cannot store null). */
type Entry<T> = { value: T | null };

const collaboratorKey = (projectId: string, userId: string): string => `c\u0000${projectId}\u0000${userId}`;

/**
 * A short-lived in-process cache in front of the token and directory stores. Keys are token
 * hashes and ids, never secrets. Writes made through this process invalidate their entries at
 * once; other replicas see them after at most the TTL.
 */
export class CachedFacts {
  readonly #tokens: LRUCache<string, TokenRecord>;
  readonly #directory: LRUCache<string, Entry<unknown>>;
  readonly #counters: CacheCounters | undefined;

  constructor(
    readonly tokenStore: TokenStore,
    readonly directoryStore: DirectoryStore,
    options: { ttlMs: number; max?: number; counters?: CacheCounters },
  ) {
    const ttl = Math.max(1, options.ttlMs);
    const max = options.max ?? 50_000;
    // A token that is not found is not cached: it may be created a moment later on another replica.
    this.#tokens = new LRUCache({ max, ttl });
    this.#directory = new LRUCache({ max, ttl });
    this.#counters = options.counters;
    this.#enabled = options.ttlMs > 0;
  }

  /** TOLLGATE_CACHE_TTL_MS=0 turns caching off. */
  readonly #enabled: boolean;

  async tokenByHash(hash: string): Promise<TokenRecord | null> {
    const cached = this.#enabled ? this.#tokens.get(hash) : undefined;
    if (cached) {
      this.#counters?.hit("token");
      return cached;
    }
    this.#counters?.miss("token");
    const record = await this.tokenStore.findByHash(hash);
    if (record && this.#enabled) this.#tokens.set(hash, record);
    return record;
  }

  // An id outside the stores' alphabet names nothing: it is answered absent without a lookup and
  // not remembered, so ids from request paths (any length, any bytes) cannot fill the cache.
  user(id: string): Promise<User | null> {
    if (!isValidUserId(id)) return Promise.resolve(null);
    return this.#remembered("user", `u\u0000${id}`, () => this.directoryStore.getUser(id));
  }

  project(id: string): Promise<Project | null> {
    if (!isValidId(id)) return Promise.resolve(null);
    return this.#remembered("project", `p\u0000${id}`, () => this.directoryStore.getProject(id));
  }

  collaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    if (!isValidId(projectId) || !isValidUserId(userId)) return Promise.resolve(null);
    return this.#remembered("collaborator", collaboratorKey(projectId, userId), () =>
      this.directoryStore.getCollaboratorRole(projectId, userId),
    );
  }

  /**
   * The user's role (or null) in each of these projects: cached entries as collaboratorRole()
   * keeps them, the rest in one store read.
   */
  async collaboratorRoles(projectIds: readonly string[], userId: string): Promise<Map<string, CollaboratorRole | null>> {
    const roles = new Map<string, CollaboratorRole | null>();
    const missing: string[] = [];
    for (const projectId of new Set(projectIds)) {
      const cached = this.#enabled ? (this.#directory.get(collaboratorKey(projectId, userId)) as Entry<CollaboratorRole> | undefined) : undefined;
      if (cached) {
        this.#counters?.hit("collaborator");
        roles.set(projectId, cached.value);
      } else {
        this.#counters?.miss("collaborator");
        missing.push(projectId);
      }
    }
    if (missing.length === 0) return roles;
    const found = await this.directoryStore.getCollaboratorRoles(userId, missing);
    for (const projectId of missing) {
      const value = found.get(projectId) ?? null;
      roles.set(projectId, value);
      if (this.#enabled) this.#directory.set(collaboratorKey(projectId, userId), { value });
    }
    return roles;
  }

  invalidateToken(hash: string): void {
    this.#tokens.delete(hash);
  }

  invalidateUser(id: string): void {
    this.#directory.delete(`u\u0000${id}`);
  }

  invalidateProject(id: string): void {
    this.#directory.delete(`p\u0000${id}`);
  }

  invalidateCollaborator(projectId: string, userId: string): void {
    this.#directory.delete(collaboratorKey(projectId, userId));
  }

  async #remembered<T>(cache: string, key: string, load: () => Promise<T | null>): Promise<T | null> {
    const cached = this.#enabled ? (this.#directory.get(key) as Entry<T> | undefined) : undefined;
    if (cached) {
      this.#counters?.hit(cache);
      return cached.value;
    }
    this.#counters?.miss(cache);
    const value = await load();
    if (this.#enabled) this.#directory.set(key, { value });
    return value;
  }
}
