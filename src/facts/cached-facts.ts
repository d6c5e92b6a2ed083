import type { CollaboratorRole, DirectoryStore, Project, TokenRecord, TokenStore, User } from "../stores/types.js";
import { CachedDirectoryStore, CachedTokenStore, factKey, revokedAsHeard } from "./cached-stores.js";
import { FactCache, type CacheCounters } from "./fact-cache.js";
import { LocalInvalidationBus, type ChangeEvent, type InvalidationBus } from "./invalidation.js";

export interface CachedFactsOptions {
  /** TOLLGATE_CACHE_TTL_MS; 0 turns caching off. */
  ttlMs: number;
  /** TOLLGATE_CACHE_TTL_DEGRADED_MS: the longest a fact is served from the cache while the bus is down. */
  degradedTtlMs?: number;
  max?: number;
  /** TOLLGATE_REVOCATIONS_MAX (see FactCache). */
  revocationsMax?: number;
  counters?: CacheCounters;
  /** Carries changes to the other processes; default: this process only. */
  bus?: InvalidationBus;
  now?: () => number;
}

/**
 * The token and directory stores behind one short-lived in-process cache (keys are token hashes
 * and ids, never secrets). `tokenStore` and `directoryStore` are write-through decorators: a
 * write through them invalidates this process's cache at once and publishes the change on the
 * bus, which every process applies (see docs/operations.md, "Cache and invalidation").
 */
export class CachedFacts {
  readonly tokenStore: TokenStore;
  readonly directoryStore: DirectoryStore;
  readonly cache: FactCache;
  readonly bus: InvalidationBus;
  readonly #now: () => number;

  constructor(tokens: TokenStore, directory: DirectoryStore, options: CachedFactsOptions) {
    this.cache = new FactCache({
      ttlMs: options.ttlMs,
      ...(options.max !== undefined ? { max: options.max } : {}),
      ...(options.revocationsMax !== undefined ? { revocationsMax: options.revocationsMax } : {}),
      ...(options.counters ? { counters: options.counters } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.#now = options.now ?? Date.now;
    this.bus = options.bus ?? new LocalInvalidationBus();
    const changed = (event: ChangeEvent): void => {
      this.#apply(event);
      this.bus.publish(event);
    };
    this.tokenStore = new CachedTokenStore(tokens, this.cache, changed);
    this.directoryStore = new CachedDirectoryStore(directory, this.cache, changed);
    this.bus.onChange((event) => this.#apply(event));
    // While the bus is down a change elsewhere may go unheard: serve only young entries, and
    // when it is back, forget everything that may have missed a change.
    const degradedTtlMs = options.degradedTtlMs ?? 0;
    const follow = (state: InvalidationBus["state"]): void => {
      if (state === "down") this.cache.limitAge(degradedTtlMs);
      else {
        this.cache.clear();
        this.cache.limitAge(null);
      }
    };
    if (this.bus.state === "down") this.cache.limitAge(degradedTtlMs);
    this.bus.onState(follow);
  }

  /** A revocation revises the cached token in place (no store read to deny it); any other change drops the entry. */
  #apply(event: ChangeEvent): void {
    const key = factKey(event.kind, event.id);
    if (event.kind === "token" && event.revoked) {
      const at = new Date(this.#now());
      this.cache.revoke(key, at, (cached) => revokedAsHeard(cached as TokenRecord | null, at));
    } else this.cache.invalidate(key);
  }

  tokenByHash(hash: string): Promise<TokenRecord | null> {
    return this.tokenStore.findByHash(hash);
  }

  user(id: string): Promise<User | null> {
    return this.directoryStore.getUser(id);
  }

  project(id: string): Promise<Project | null> {
    return this.directoryStore.getProject(id);
  }

  collaboratorRole(projectId: string, userId: string): Promise<CollaboratorRole | null> {
    return this.directoryStore.getCollaboratorRole(projectId, userId);
  }

  /** The user's role (or null) in each of these projects, cached entries first, the rest in one read. */
  async collaboratorRoles(projectIds: readonly string[], userId: string): Promise<Map<string, CollaboratorRole | null>> {
    const unique = [...new Set(projectIds)];
    const found = unique.length > 0 ? await this.directoryStore.getCollaboratorRoles(userId, unique) : new Map<string, CollaboratorRole>();
    return new Map(unique.map((projectId) => [projectId, found.get(projectId) ?? null]));
  }
}
