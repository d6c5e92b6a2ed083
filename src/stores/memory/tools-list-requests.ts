import type { JsonRpcRequestId, ToolsListRequestStore } from "../types.js";

/** Callers held at most; the one recorded least recently goes first (Redis holds every replica's). */
const MAX_CALLERS = 10_000;

/** One process's tools/list ids, per caller, each caller forgotten `ttlMs` after its last record. */
export class MemoryToolsListRequestStore implements ToolsListRequestStore {
  /** In order of the last record: the first is the one to drop. */
  readonly #callers = new Map<string, { ids: Set<string>; expiresAt: number }>();
  readonly #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  async record(caller: string, id: JsonRpcRequestId, ttlMs: number): Promise<void> {
    const ids = this.#live(caller) ?? new Set<string>();
    ids.add(JSON.stringify(id));
    this.#callers.delete(caller);
    this.#callers.set(caller, { ids, expiresAt: this.#clock() + ttlMs });
    if (this.#callers.size > MAX_CALLERS) this.#callers.delete(this.#callers.keys().next().value!);
  }

  async has(caller: string, id: JsonRpcRequestId): Promise<boolean> {
    return this.#live(caller)?.has(JSON.stringify(id)) ?? false;
  }

  #live(caller: string): Set<string> | undefined {
    const entry = this.#callers.get(caller);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.#clock()) return entry.ids;
    this.#callers.delete(caller);
    return undefined;
  }
}
