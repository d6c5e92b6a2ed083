import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ToolsListRequestStore } from "../../src/stores/types.js";

export interface ToolsListFixture {
  store: ToolsListRequestStore;
  /** Lets `ms` pass for the store (real time for Redis). */
  advance(ms: number): Promise<void>;
  cleanup?: () => Promise<void>;
}

export function describeToolsListRequestStoreContract(name: string, factory: () => Promise<ToolsListFixture>): void {
  describe(`ToolsListRequestStore contract: ${name}`, () => {
    let fx: ToolsListFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("knows the ids recorded for a caller, and no other", async () => {
      const { store } = fx;
      await store.record("tok_a|p1|s1", 1, 60_000);
      await store.record("tok_a|p1|s1", "req-7", 60_000);
      expect(await store.has("tok_a|p1|s1", 1)).toBe(true);
      expect(await store.has("tok_a|p1|s1", "req-7")).toBe(true);
      expect(await store.has("tok_a|p1|s1", 2)).toBe(false);
    });

    it("matches an id with its type: 1 and \"1\" are two ids", async () => {
      const { store } = fx;
      await store.record("c", 1, 60_000);
      expect(await store.has("c", "1")).toBe(false);
      await store.record("c", "2", 60_000);
      expect(await store.has("c", 2)).toBe(false);
    });

    it("keeps callers apart: another token, project or session does not see the ids", async () => {
      const { store } = fx;
      await store.record("tok_a|p1|s1", 5, 60_000);
      for (const other of ["tok_b|p1|s1", "tok_a|p2|s1", "tok_a|p1|s2", "tok_a|p1|", ""]) expect(await store.has(other, 5)).toBe(false);
    });

    it("forgets a caller's ids once its time to live has passed since the last record", async () => {
      const { store } = fx;
      // Real time on Redis, on a loaded machine: margins of seconds (a sleep only ever overshoots).
      await store.record("c", 1, 3_000);
      await fx.advance(2_000);
      await store.record("c", 2, 3_000);
      await fx.advance(1_500);
      // Past the first record's time to live, within the last one's: both still known.
      expect(await store.has("c", 1)).toBe(true);
      await fx.advance(3_500);
      expect(await store.has("c", 1)).toBe(false);
      expect(await store.has("c", 2)).toBe(false);
    });

    it("records concurrently without losing an id", async () => {
      const { store } = fx;
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.record("c", i, 60_000)));
      const known = await Promise.all(Array.from({ length: 50 }, (_, i) => store.has("c", i)));
      expect(known.every(Boolean)).toBe(true);
    });
  });
}
