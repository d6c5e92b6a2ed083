import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BackendGuard } from "../../src/stores/guarded-stores.js";
import { BackendUnavailableError, DuplicateError } from "../../src/stores/types.js";

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

/** A call that answers `value` after `ms` (fake time). */
const after = <T>(ms: number, value: T) => () => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

function makeGuard() {
  let now = 0;
  const guard = new BackendGuard({ backend: "mongodb", timeoutMs: 1_000, breaker: { backoffMs: 100, now: () => now } });
  return { guard, advance: (ms: number) => void (now += ms) };
}

describe("BackendGuard", () => {
  it("neither bounds nor breaks anything until the backend first answered (a slow first connect is waited for)", async () => {
    const { guard } = makeGuard();
    const first = guard.read(after(5_000, "first"));
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(first).resolves.toBe("first");
    expect(guard.breaker.state).toBe("closed");
  });

  it("bounds a read once the backend answered, opens, fails at once, and closes on a probe that answers", async () => {
    const { guard, advance } = makeGuard();
    await guard.read(async () => "connected");
    const slow = guard.read(after(60_000, "late"));
    const failed = expect(slow).rejects.toThrow(/no answer within 1000 ms/);
    await vi.advanceTimersByTimeAsync(1_000);
    await failed;
    expect(guard.breaker.state).toBe("open");

    let reached = 0;
    await expect(guard.read(async () => void reached++)).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(guard.write(async () => void reached++)).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(reached).toBe(0);

    advance(100);
    await expect(guard.read(async () => "probe")).resolves.toBe("probe");
    expect(guard.breaker.state).toBe("closed");
  });

  it("does not bound a write (given up on, it might still be applied unannounced)", async () => {
    const { guard } = makeGuard();
    await guard.read(async () => "connected");
    const write = guard.write(after(3_000, "written"));
    await vi.advanceTimersByTimeAsync(3_000);
    await expect(write).resolves.toBe("written");
    expect(guard.breaker.state).toBe("closed");
  });

  it("an answer that is an error (a duplicate, a validation error) shows the backend is there", async () => {
    const { guard } = makeGuard();
    await guard.read(async () => "connected");
    await expect(guard.write(() => Promise.reject(new DuplicateError("token", "id")))).rejects.toBeInstanceOf(DuplicateError);
    expect(guard.breaker.state).toBe("closed");
    await expect(guard.read(() => Promise.reject(new BackendUnavailableError("mongodb", "refused")))).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(guard.breaker.state).toBe("open");
  });
});
