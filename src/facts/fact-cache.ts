import { LRUCache } from "lru-cache";

export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
  /** The whole cache was dropped because its memory of changes was full of entries younger than the TTL. */
  overflowCleared?(): void;
}

/** What the cache holds: a value or a remembered absence (LRUCache cannot store null), and when it was read. */
type Entry = { value: unknown; at: number };

/** A change this process heard of: its invalidation number, when, and for a revocation, its time. */
type Remembered = { n: number; at: number; revokedAt: number | null };

export interface FactCacheOptions {
  /** TOLLGATE_CACHE_TTL_MS; 0 turns caching off. */
  ttlMs: number;
  max?: number;
  /** TOLLGATE_REVOCATIONS_MAX: how many changes (revocations among them) are remembered. */
  revocationsMax?: number;
  counters?: CacheCounters;
  now?: () => number;
}

export const DEFAULT_REVOCATIONS_MAX = 100_000;

/**
 * The in-process fact cache, keyed by "<kind>\0<id>" (ids as in ChangeEvent).
 *
 * Late fills lose: a read that started before a change of its key must not store what it read,
 * since the store may have answered with the fact as it was before. Each read takes a ticket
 * (the number of changes so far); a change records its own number against the key; a fill
 * whose ticket is older than its key's last change is returned to its caller but not stored.
 *
 * Revocations are remembered: a revoked key stays revoked whatever a store read says afterwards
 * (a lost write, a lagging secondary), and a cached entry is revised in place, so a replica
 * denies a revoked token without reading the store again.
 *
 * The memory of changes is bounded (TOLLGATE_REVOCATIONS_MAX), and each entry lives at least the
 * cache TTL: a full memory forgets its oldest entry only once that is older than the TTL, else
 * it clears the whole cache, so that nothing stale can be served and no fill under way stored.
 */
export class FactCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #counters: CacheCounters | undefined;
  readonly #now: () => number;
  readonly #enabled: boolean;
  readonly #ttlMs: number;
  readonly #rememberMax: number;
  #changes = 0;
  /** key → its last change, oldest first; bounded, see the class comment. */
  readonly #remembered = new Map<string, Remembered>();
  /** Fills with a ticket below this are not stored (a forgotten change may concern them). */
  #floor = 0;
  /** Longest age served while the bus is down (TOLLGATE_CACHE_TTL_DEGRADED_MS); null while it is up. */
  #degradedMaxAgeMs: number | null = null;

  constructor(options: FactCacheOptions) {
    this.#enabled = options.ttlMs > 0;
    this.#ttlMs = options.ttlMs;
    this.#entries = new LRUCache({ max: options.max ?? 50_000, ttl: Math.max(1, options.ttlMs) });
    this.#rememberMax = Math.max(1, options.revocationsMax ?? DEFAULT_REVOCATIONS_MAX);
    this.#counters = options.counters;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The cached value of `key`, or `load()`'s (stored if nothing changed the key meanwhile).
   * `remember: false` answers are returned but never stored (e.g. a token not found). A hit is
   * the stored value itself, deeply frozen (see #set).
   */
  async read<T>(cache: string, key: string, load: () => Promise<T>, remember: (value: T) => boolean = () => true): Promise<T> {
    const cached = this.#fresh(key);
    if (cached) {
      this.#counters?.hit(cache);
      return cached.value as T;
    }
    this.#counters?.miss(cache);
    const ticket = this.ticket();
    const value = await load();
    if (remember(value)) this.fill(key, ticket, value);
    return value;
  }

  /** A cached entry if it may be served now, counted as a hit or miss (for batched reads). */
  peek(cache: string, key: string): { value: unknown } | undefined {
    const entry = this.#fresh(key);
    if (entry) this.#counters?.hit(cache);
    else this.#counters?.miss(cache);
    return entry && { value: entry.value };
  }

  ticket(): number {
    return this.#changes;
  }

  fill(key: string, ticket: number, value: unknown): void {
    if (!this.#enabled || ticket < this.#floor) return;
    const last = this.#remembered.get(key);
    if (last !== undefined && last.n > ticket) return;
    this.#set(key, value);
  }

  /** Drops the key's entry; fills that started before now are not stored. */
  invalidate(key: string): void {
    this.#entries.delete(key);
    this.#remember(key, this.#remembered.get(key)?.revokedAt ?? null);
  }

  /**
   * Remembers `key` as revoked at `at` (a revocation is final). A cached entry is replaced by
   * `revise(entry)` rather than dropped, so the next read needs no store; fills that started
   * before now are not stored.
   */
  revoke(key: string, at: Date, revise: (cached: unknown) => unknown): void {
    const entry = this.#entries.get(key);
    const revokedAt = this.#remembered.get(key)?.revokedAt ?? at.getTime();
    this.#entries.delete(key);
    this.#remember(key, revokedAt);
    if (entry && this.#enabled) this.#set(key, revise(structuredClone(entry.value)));
  }

  /** When `key` was revoked, if this process heard of it and still remembers. */
  revokedAt(key: string): Date | null {
    const revokedAt = this.#remembered.get(key)?.revokedAt;
    return revokedAt === undefined || revokedAt === null ? null : new Date(revokedAt);
  }

  /** Forgets everything, and no fill started before now is stored. */
  clear(): void {
    this.#entries.clear();
    this.#remembered.clear();
    this.#floor = ++this.#changes;
  }

  /** While the bus is down, serve nothing older than maxAgeMs (0: nothing at all); null lifts it. */
  limitAge(maxAgeMs: number | null): void {
    this.#degradedMaxAgeMs = maxAgeMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** How many changes are remembered (revocations among them). */
  get remembered(): number {
    return this.#remembered.size;
  }

  #remember(key: string, revokedAt: number | null): void {
    const now = this.#now();
    this.#remembered.delete(key);
    if (this.#remembered.size >= this.#rememberMax) {
      const [oldestKey, oldest] = this.#remembered.entries().next().value as [string, Remembered];
      if (now - oldest.at >= this.#ttlMs) {
        this.#remembered.delete(oldestKey);
        this.#floor = Math.max(this.#floor, oldest.n);
      } else {
        // Forgetting a change younger than the TTL could let a stale entry or fill through: forget everything instead.
        this.clear();
        this.#counters?.overflowCleared?.();
      }
    }
    this.#remembered.set(key, { n: ++this.#changes, at: now, revokedAt });
  }

  #set(key: string, value: unknown): void {
    // Copied once on the way in and frozen: the caller that filled it keeps its own value, and
    // what is served is immutable, so a hit hands out the stored value without a copy and no
    // caller can change what others are served.
    this.#entries.set(key, { value: deepFreeze(structuredClone(value)), at: this.#now() });
  }

  #fresh(key: string): Entry | undefined {
    if (!this.#enabled) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#degradedMaxAgeMs !== null && this.#now() - entry.at >= this.#degradedMaxAgeMs) return undefined;
    return entry;
  }
}

/**
 * Freezes a structured-clone result and everything it holds. Dates keep their setters (a frozen
 * Date can still be set), so facts with dates are read, never changed, by convention: the
 * decision path only reads them (getTime()).
 */
function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const inner of Object.values(value)) deepFreeze(inner);
  return Object.freeze(value);
}
