// Small helpers shared by the benchmarks: percentiles over nanosecond samples and plain tables.

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nanosecond samples → mean, p50, p99 (nearest rank), max. Sorts a copy. */
export function summarize(samples: Float64Array | number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  if (n === 0) return { n: 0, mean: NaN, p50: NaN, p99: NaN, max: NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  const rank = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  return { n, mean: sum / n, p50: rank(0.5), p99: rank(0.99), max: sorted[n - 1]! };
}

/** 1234 → "1.23 µs"; 1234567 → "1.23 ms". */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  if (ns < 1_000) return `${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  return `${(ns / 1_000_000).toFixed(ns < 10_000_000 ? 2 : 1)} ms`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "–";
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A Markdown table (readable as is in a terminal, pasteable into docs). Columns after the first are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `-${"-".repeat(w)}-` : `-${"-".repeat(w)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
