// The rolling window both rate limiters share (memory/ and redis/): a window of W ms is cut into
// SUB_WINDOWS sub-windows of g = ceil(W·1000 / SUB_WINDOWS) µs, numbered from the epoch
// (sub-window n covers [n·g, (n+1)·g) µs). A hit is admitted iff the hits counted in the current
// sub-window and the SUB_WINDOWS before it sum to less than the limit. Those S+1 sub-windows
// cover the whole rolling window (now − W, now] and at most one sub-window more, so no rolling
// window of W ever admits more than the limit, and a hit keeps counting for at most one
// sub-window (W/S) longer than W: that is the under-admission. State per key: at most S+1
// counters, a total and the oldest counted sub-window, whatever the limit.

/** Sub-windows per window (S). */
export const SUB_WINDOWS = 60;

/** Sub-window length g in microseconds for a window of `windowMs`; S·g ≥ W·1000. */
export function subWindowUs(windowMs: number): number {
  return Math.ceil((windowMs * 1000) / SUB_WINDOWS);
}

/** Milliseconds from `nowUs` until sub-window `n` stops being counted (at the start of n + S + 1). */
export function msUntilLeaves(n: number, subUs: number, nowUs: number): number {
  return Math.max(0, Math.ceil(((n + SUB_WINDOWS + 1) * subUs - nowUs) / 1000));
}
