import { describe, expect, it, vi } from "vitest";
import { startPruning } from "../../src/stores/prune.js";
import { T0, sleep, waitFor } from "../audit/fixtures.js";

describe("startPruning", () => {
  it("runs periodically, never overlapping, logs failures and stops", async () => {
    let calls = 0;
    let fail = true;
    const warn = vi.fn();
    const pruner = {
      async prune(now: Date): Promise<number> {
        expect(now).toEqual(T0);
        calls++;
        await sleep(5);
        if (fail) throw new Error("down");
        return 3;
      },
    };
    const pruning = startPruning("test data", pruner, { intervalMs: 20, initialDelayMs: 1, logger: { warn }, now: () => T0 });
    await waitFor("two prune runs", () => calls >= 2);
    expect(warn).toHaveBeenCalledTimes(1); // throttled to once per minute
    expect(warn.mock.calls[0]![1]).toBe("test data prune failed; retrying at the next interval");
    fail = false;
    const [a, b] = await Promise.all([pruning.runNow(), pruning.runNow()]);
    expect(a).toBe(3);
    expect(b).toBe(3); // the same run
    pruning.stop();
    await pruning.runNow(); // settles a run the timer may have started
    const after = calls;
    await sleep(60);
    expect(calls).toBe(after);
  });
});
