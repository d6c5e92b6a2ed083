import { LRUCache } from "lru-cache";

export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
}

/** What the cache holds: a value or a remembered absence (LRUCache cannot store null), and when it was read. */
type Entry = { value: unknown; at: number };

export interface FactCacheOptions {
  /** TOLLGATE_CACHE_TTL_MS; 0 turns caching off. */
  ttlMs: number;
  max?: number;
  counters?: CacheCounters;
  now?: () => number;
}

/** How many recent invalidations are remembered for fills still in flight (see fill()). */
const REMEMBERED_INVALIDATIONS = 10_000;

/**
 * The in-process fact cache, keyed by "<kind>\0<id>" (ids as in ChangeEvent). A read that
 * started before an invalidation of its key must not store what it read: the store may have
 * answered with the fact as it was before the change. Each read takes a ticket (the number of
 * invalidations so far); an invalidation records its own number against the key; a fill whose
 * ticket is older than its key's last invalidation is returned to its caller but not stored.
 */
export class FactCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #counters: CacheCounters | undefined;
  readonly #now: () => number;
  readonly #enabled: boolean;
  #invalidations = 0;
  /** key → number of its last invalidation, oldest first; bounded, see #floor. */
  readonly #invalidatedAt = new Map<string, number>();
  /** Fills with a ticket below this are not stored (a forgotten invalidation may concern them). */
  #floor = 0;
  /** Longest age served while the bus is down (TOLLGATE_CACHE_TTL_DEGRADED_MS); null while it is up. */
  #degradedMaxAgeMs: number | null = null;

  constructor(options: FactCacheOptions) {
    this.#enabled = options.ttlMs > 0;
    this.#entries = new LRUCache({ max: options.max ?? 50_000, ttl: Math.max(1, options.ttlMs) });
    this.#counters = options.counters;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The cached value of `key`, or `load()`'s (stored if nothing invalidated the key meanwhile).
   * `remember: false` answers are returned but never stored (e.g. a token not found).
   */
  async read<T>(cache: string, key: string, load: () => Promise<T>, remember: (value: T) => boolean = () => true): Promise<T> {
    const cached = this.#fresh(key);
    if (cached) {
      this.#counters?.hit(cache);
      return structuredClone(cached.value) as T;
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
    return entry && { value: structuredClone(entry.value) };
  }

  ticket(): number {
    return this.#invalidations;
  }

  fill(key: string, ticket: number, value: unknown): void {
    if (!this.#enabled || ticket < this.#floor) return;
    const last = this.#invalidatedAt.get(key);
    if (last !== undefined && last > ticket) return;
    // Copies in and out: a caller changing what it got must not change what others are served.
    this.#entries.set(key, { value: structuredClone(value), at: this.#now() });
  }

  invalidate(key: string): void {
    this.#entries.delete(key);
    const n = ++this.#invalidations;
    this.#invalidatedAt.delete(key);
    this.#invalidatedAt.set(key, n);
    if (this.#invalidatedAt.size > REMEMBERED_INVALIDATIONS) {
      const [oldestKey, oldestN] = this.#invalidatedAt.entries().next().value as [string, number];
      this.#invalidatedAt.delete(oldestKey);
      this.#floor = oldestN;
    }
  }

  /** Forgets everything, and no fill started before now is stored. */
  clear(): void {
    this.#entries.clear();
    this.#invalidatedAt.clear();
    this.#floor = ++this.#invalidations;
  }

  /** While the bus is down, serve nothing older than maxAgeMs (0: nothing at all); null lifts it. */
  limitAge(maxAgeMs: number | null): void {
    this.#degradedMaxAgeMs = maxAgeMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  #fresh(key: string): Entry | undefined {
    if (!this.#enabled) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#degradedMaxAgeMs !== null && this.#now() - entry.at >= this.#degradedMaxAgeMs) return undefined;
    return entry;
  }
}
