// Per-decision cost of the WASM policy engine, beside `opa bench` (OPA's Go evaluator) on the same
// query and the same inputs. Run through scripts/bench-eval.sh (`make bench-eval`), which compiles
// policies/ to a fresh policy.wasm so both evaluators run the same policy source.
//
// Environment:
//   BENCH_WASM_DIR   folder holding policy.wasm (default: wasm)
//   BENCH_POLICY_DIR Rego source for opa bench (default: policies)
//   OPA_BIN          opa binary (default: .tools/bin/opa)
//   BENCH_N          timed engine.decide() calls (default and minimum: 100000)
//   BENCH_N_PARTS    timed calls for each of the other full evaluations (default: 20000)
//   BENCH_OPA        "0" skips opa bench; "all" runs it on every input (default: the representative ones)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { loadPolicySync as LoadPolicySync } from "@open-policy-agent/opa-wasm";
import { PolicyEngine, POLICY_FILE } from "../src/policy/engine.js";
import type { PolicyDecision } from "../src/policy/types.js";
import { isPolicyDecision } from "../src/policy/validate-output.js";
import { BENCH_INPUTS } from "./inputs.js";
import { fmtNs, fmtRatio, summarize, table, type Summary } from "./stats.js";

const { loadPolicySync } = createRequire(import.meta.url)("@open-policy-agent/opa-wasm") as { loadPolicySync: typeof LoadPolicySync };

const WASM_DIR = process.env.BENCH_WASM_DIR ?? "wasm";
const POLICY_DIR = process.env.BENCH_POLICY_DIR ?? "policies";
const OPA = process.env.OPA_BIN ?? ".tools/bin/opa";
const N = Math.max(100_000, Number(process.env.BENCH_N ?? 100_000));
const N_PARTS = Math.max(1_000, Number(process.env.BENCH_N_PARTS ?? 20_000));
/** Sub-microsecond operations are cheap to time: as many calls as decide() gets. */
const N_CHEAP = N;
const WARMUP = 3_000;
const RUN_OPA = process.env.BENCH_OPA !== "0";
const OPA_ALL = process.env.BENCH_OPA === "all";
const DECISION_EP = "tollgate/authz/decision";
const ROUTE_EP = "tollgate/authz/route";
const QUERY = "data.tollgate.authz.decision";

const inputs = BENCH_INPUTS.map((b) => b.input);
const K = inputs.length;
const hr = process.hrtime.bigint;
const log = (msg: string) => process.stderr.write(`==> ${msg}\n`);

// ---------------------------------------------------------------------------- setup

const bytes = readFileSync(join(WASM_DIR, POLICY_FILE));
const engine = PolicyEngine.load(WASM_DIR);
// A second, raw instance of the same module for the measurements without the engine's wrapper.
const raw = loadPolicySync(bytes, { initial: 5, maximum: 1024 });

/** The SDK's fields that LoadedPolicy.evaluate() uses (plain JS properties, not in its .d.ts). */
interface Internals {
  mem: WebAssembly.Memory;
  dataAddr: number;
  dataHeapPtr: number;
  entrypoints: Record<string, number>;
  wasmInstance: { exports: { opa_eval(reserved: number, ep: number, data: number, inAddr: number, inLen: number, heap: number, fmt: number): number } };
}
const internals = raw as unknown as Internals;
const decisionEpId = internals.entrypoints[DECISION_EP]!;

function firstResult(rs: unknown): unknown {
  return Array.isArray(rs) && rs.length === 1 ? (rs[0] as { result?: unknown }).result : undefined;
}

// Correctness first: every input must get its expected status, or the timings mean nothing.
const wasmDecisions: PolicyDecision[] = BENCH_INPUTS.map((b) => {
  const d = engine.decide(b.input);
  if (d.status !== b.expectStatus) throw new Error(`"${b.name}": expected status ${b.expectStatus}, WASM engine says ${d.status} (${d.reasons.join(",")})`);
  return d;
});

// ---------------------------------------------------------------------------- timing helpers

let sink = 0;

/** Times fn(i % K) once per call, for n calls, after `warmup` untimed calls. Nanoseconds. */
function timeEach(n: number, fn: (k: number) => unknown, warmup = WARMUP): Float64Array {
  for (let i = 0; i < warmup; i++) if (fn(i % K)) sink++;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = hr();
    const r = fn(i % K);
    out[i] = Number(hr() - t0);
    if (r) sink++;
  }
  return out;
}

/** Samples of call i belong to input i % K. */
function perInput(samples: Float64Array): Summary[] {
  const groups: number[][] = Array.from({ length: K }, () => []);
  samples.forEach((v, i) => groups[i % K]!.push(v));
  return groups.map((g) => summarize(g));
}

/** LoadedPolicy.evaluate() (ABI 1.2 fast path) step by step, each step timed. */
const stageTimes = { marshal: new Float64Array(N_PARTS), eval: new Float64Array(N_PARTS), unmarshal: new Float64Array(N_PARTS) };
function stagedEvaluate(input: unknown, slot: number): unknown {
  const t0 = hr();
  const inputBuf = new TextEncoder().encode(JSON.stringify(input));
  const inputAddr = internals.dataHeapPtr;
  const delta = inputAddr + inputBuf.byteLength - internals.mem.buffer.byteLength;
  if (delta > 0) internals.mem.grow(Math.ceil(delta / 65536));
  new Uint8Array(internals.mem.buffer).set(inputBuf, inputAddr);
  const t1 = hr();
  const ret = internals.wasmInstance.exports.opa_eval(0, decisionEpId, internals.dataAddr, inputAddr, inputBuf.byteLength, inputAddr + inputBuf.byteLength, 0);
  const t2 = hr();
  const buf = new Uint8Array(internals.mem.buffer);
  let end = ret;
  while (buf[end] !== 0) end++;
  const result: unknown = JSON.parse(new TextDecoder().decode(new Uint8Array(internals.mem.buffer, ret, end - ret)));
  const t3 = hr();
  if (slot >= 0) {
    stageTimes.marshal[slot] = Number(t1 - t0);
    stageTimes.eval[slot] = Number(t2 - t1);
    stageTimes.unmarshal[slot] = Number(t3 - t2);
  }
  return result;
}

for (let k = 0; k < K; k++) {
  if (!isDeepStrictEqual(firstResult(stagedEvaluate(inputs[k], -1)), wasmDecisions[k])) throw new Error(`staged evaluate disagrees with the SDK on "${BENCH_INPUTS[k]!.name}"`);
}

// ---------------------------------------------------------------------------- WASM measurements

const fmtCount = (n: number) => n.toLocaleString("en-US");
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
log(`WASM: ${fmtCount(N)} timed engine.decide() calls, ${fmtCount(N_PARTS)} for each other evaluation, ${K} inputs round robin, ${fmtCount(WARMUP)} warm-up calls per row`);
const started = Date.now();
// V8 compiles the policy's wasm in tiers and optimizes the hot functions in the background; on a busy
// 2-core machine that takes a few seconds of calls. Warm both instances up before timing anything.
for (let i = 0; i < 3 * WARMUP; i++) {
  engine.decide(inputs[i % K]!);
  raw.evaluate(inputs[i % K]!, DECISION_EP);
  if (i % 4 === 0) raw.evaluate({ method: inputs[i % K]!.method, path: inputs[i % K]!.path }, ROUTE_EP);
}
log(`  warm-up done (${((Date.now() - started) / 1000).toFixed(1)} s)`);

const overhead = timeEach(N_CHEAP, () => 0);
const decide = timeEach(N, (k) => engine.decide(inputs[k]!).allow);
log(`  engine.decide() done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
const evaluate = timeEach(N_PARTS, (k) => raw.evaluate(inputs[k]!, DECISION_EP));
const sizeCheck = timeEach(N_CHEAP, (k) => Buffer.byteLength(JSON.stringify(inputs[k]!)) > 65536);
const zod = timeEach(N_CHEAP, (k) => isPolicyDecision(wasmDecisions[k]));
for (let i = 0; i < WARMUP; i++) stagedEvaluate(inputs[i % K], -1);
for (let i = 0; i < N_PARTS; i++) stagedEvaluate(inputs[i % K], i);
const routeInputs = inputs.map((i) => ({ method: i.method, path: i.path }));
const routeCached = timeEach(N_CHEAP, (k) => engine.route(routeInputs[k]!.method, routeInputs[k]!.path).valid_path);
const routeRaw = timeEach(N_PARTS, (k) => raw.evaluate(routeInputs[k]!, ROUTE_EP));
log(`WASM measurements took ${((Date.now() - started) / 1000).toFixed(1)} s`);

const S = {
  overhead: summarize(overhead),
  decide: summarize(decide),
  evaluate: summarize(evaluate),
  sizeCheck: summarize(sizeCheck),
  zod: summarize(zod),
  marshal: summarize(stageTimes.marshal),
  eval: summarize(stageTimes.eval),
  unmarshal: summarize(stageTimes.unmarshal),
  routeCached: summarize(routeCached),
  routeRaw: summarize(routeRaw),
};
const decidePer = perInput(decide);
const evaluatePer = perInput(evaluate);
const evalPer = perInput(stageTimes.eval);

// ---------------------------------------------------------------------------- opa bench (Go)

interface GoResult {
  nsPerOp: number;
  p50: number;
  p99: number;
  allocsPerOp: number;
}

function opaBench(query: string, input: unknown, dir: string, name: string): GoResult | null {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(input));
  const run = spawnSync(OPA, ["bench", "-d", POLICY_DIR, "--input", file, "--format", "json", query], { encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) {
    log(`opa bench ${query} (${name}) failed: ${(run.stderr || run.stdout).slice(0, 500)}`);
    return null;
  }
  const out = JSON.parse(run.stdout) as { N: number; T: number; MemAllocs: number; Extra?: Record<string, number> };
  const extra = out.Extra ?? {};
  return {
    nsPerOp: out.T / out.N,
    p50: extra["histogram_timer_rego_query_eval_ns_median"] ?? NaN,
    p99: extra["histogram_timer_rego_query_eval_ns_99%"] ?? NaN,
    allocsPerOp: out.MemAllocs / out.N,
  };
}

const go: Array<GoResult | null> = [];
let goRoute: GoResult | null = null;
let goRouteTable: GoResult | null = null;
let agree = "not checked (BENCH_OPA=0)";
if (RUN_OPA) {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-bench-eval-"));
  try {
    // Same answers from both evaluators, checked in one `opa eval` over all inputs.
    writeFileSync(join(dir, "inputs.json"), JSON.stringify({ bench_inputs: inputs }));
    const evalRun = spawnSync(
      OPA,
      ["eval", "-d", POLICY_DIR, "-d", join(dir, "inputs.json"), "--format", "json", `[d | some x in data.bench_inputs; d := ${QUERY} with input as x]`],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (evalRun.status !== 0) throw new Error(`opa eval failed: ${evalRun.stderr}`);
    const goDecisions = (JSON.parse(evalRun.stdout) as { result: Array<{ expressions: Array<{ value: unknown[] }> }> }).result[0]!.expressions[0]!.value;
    const differing = BENCH_INPUTS.filter((_, k) => !isDeepStrictEqual(goDecisions[k], wasmDecisions[k])).map((b) => b.name);
    if (differing.length > 0) throw new Error(`WASM and Go evaluator disagree on: ${differing.join("; ")}`);
    agree = `yes, all ${K} decisions identical`;

    const t0 = Date.now();
    const chosen = BENCH_INPUTS.filter((b) => OPA_ALL || b.representative).length;
    let done = 0;
    BENCH_INPUTS.forEach((b, k) => {
      if (!OPA_ALL && !b.representative) return void go.push(null);
      log(`opa bench ${QUERY} [${++done}/${chosen}] ${b.name}`);
      go.push(opaBench(QUERY, b.input, dir, `input-${k}`));
    });
    log("opa bench data.tollgate.authz.route / data.tollgate.authz.route_table");
    goRoute = opaBench("data.tollgate.authz.route", routeInputs[0], dir, "route");
    goRouteTable = opaBench("data.tollgate.authz.route_table", routeInputs[0], dir, "route-table");
    log(`opa bench took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------- report

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const goOk = go.filter((g): g is GoResult => g !== null);
// Go's figure for the mix is the mean of its per-input ns/op; the WASM figure it is compared with
// is the mean over the same inputs (equal weights: the timed calls are round robin).
const benched = go.map((g, k) => (g ? k : -1)).filter((k) => k >= 0);
const goMix = benched.length > 0 ? mean(benched.map((k) => go[k]!.nsPerOp)) : NaN;
const wasmOnBenched = benched.length > 0 ? mean(benched.map((k) => decidePer[k]!.mean)) : NaN;
const evaluateOnBenched = benched.length > 0 ? mean(benched.map((k) => evaluatePer[k]!.mean)) : NaN;
const mixLabel = benched.length === K ? `all ${K} inputs` : `the ${benched.length} inputs run through opa bench`;
const row = (name: string, s: Summary, note = "") => [name, fmtNs(s.p50), fmtNs(s.p99), fmtNs(s.mean), note];

const out: string[] = [];
out.push(`# Tollgate policy evaluation benchmark`);
out.push("");
out.push(`policy.wasm ${engine.revision.slice(0, 23)}…  (${WASM_DIR}/), Rego for opa bench: ${POLICY_DIR}/`);
out.push(
  `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); timed calls: ${fmtCount(N)} engine.decide(), ${fmtCount(N_PARTS)} per other full evaluation, ` +
    `${fmtCount(N_CHEAP)} per sub-µs row; ${K} inputs round robin`,
);
out.push(`Load average (1/5/15 min) before: ${loadBefore}; after: ${load()} (other work on the machine skews p99 and means most).`);
out.push(`WASM and Go evaluator agree: ${agree}`);
out.push("");
out.push("## Where the time goes (WASM, mix of all inputs, per call)");
out.push("");
out.push(
  table(
    ["measurement", "p50", "p99", "mean", "note"],
    [
      row("engine.decide()", S.decide, "what DecisionService calls"),
      row("  size check: Buffer.byteLength(JSON.stringify(input))", S.sizeCheck, "engine.decide, before evaluating"),
      row("  opa-wasm LoadedPolicy.evaluate()", S.evaluate, "raw SDK call, no size check, no zod"),
      row("    input: JSON.stringify + TextEncoder + copy to wasm", S.marshal, "inside evaluate()"),
      row("    opa_eval (policy code in wasm)", S.eval, "inside evaluate()"),
      row("    result: scan NUL + TextDecoder + JSON.parse", S.unmarshal, "inside evaluate()"),
      row("  zod isPolicyDecision(result)", S.zod, "engine.decide, after evaluating"),
      row("engine.route() (LRU hit)", S.routeCached, "every request, before facts"),
      row("route entrypoint, uncached evaluate()", S.routeRaw, "first sight of a method+path"),
      row("(timer overhead: empty call)", S.overhead, "included in every row above"),
    ],
  ),
);
const accounted = S.sizeCheck.mean + S.evaluate.mean + S.zod.mean - 3 * S.overhead.mean;
out.push("");
out.push(
  `decide() mean ${fmtNs(S.decide.mean)} ≈ size check ${fmtNs(S.sizeCheck.mean - S.overhead.mean)} + evaluate ${fmtNs(S.evaluate.mean - S.overhead.mean)} + zod ${fmtNs(S.zod.mean - S.overhead.mean)} = ${fmtNs(accounted)} ` +
    `(timer overhead subtracted). Of evaluate(), opa_eval itself is ${((S.eval.mean / (S.marshal.mean + S.eval.mean + S.unmarshal.mean)) * 100).toFixed(0)} %; JSON in and out the rest.`,
);
out.push("");
out.push("## Per input: WASM engine.decide() vs OPA Go evaluator (`opa bench`)");
out.push("");
out.push(
  table(
    ["input", "status", "decide p50", "decide p99", "decide mean", "opa_eval p50", "Go ns/op", "Go p50", "Go p99", "Go/WASM (mean)"],
    BENCH_INPUTS.map((b, k) => {
      const g = go[k];
      return [
        b.name,
        String(b.expectStatus),
        fmtNs(decidePer[k]!.p50),
        fmtNs(decidePer[k]!.p99),
        fmtNs(decidePer[k]!.mean),
        fmtNs(evalPer[k]!.p50),
        g ? fmtNs(g.nsPerOp) : "–",
        g ? fmtNs(g.p50) : "–",
        g ? fmtNs(g.p99) : "–",
        g ? fmtRatio(g.nsPerOp / decidePer[k]!.mean) : "–",
      ];
    }),
  ),
);
out.push("");
out.push("## Summary");
out.push("");
out.push(
  table(
    ["query", "WASM p50", "WASM p99", "WASM mean", "Go ns/op (opa bench)", "Go/WASM"],
    [
      ["decision, all inputs: engine.decide()", fmtNs(S.decide.p50), fmtNs(S.decide.p99), fmtNs(S.decide.mean), "", ""],
      [`decision, ${mixLabel}: engine.decide()`, "", "", fmtNs(wasmOnBenched), fmtNs(goMix), fmtRatio(goMix / wasmOnBenched)],
      [`decision, ${mixLabel}: raw evaluate()`, "", "", fmtNs(evaluateOnBenched), fmtNs(goMix), fmtRatio(goMix / evaluateOnBenched)],
      [
        `route, uncached (Go: ${routeInputs[0]!.method} ${routeInputs[0]!.path})`,
        fmtNs(S.routeRaw.p50),
        fmtNs(S.routeRaw.p99),
        fmtNs(S.routeRaw.mean),
        goRoute ? fmtNs(goRoute.nsPerOp) : "–",
        goRoute ? fmtRatio(goRoute.nsPerOp / S.routeRaw.mean) : "–",
      ],
      ["route_table object alone (Go; the decision no longer reads it)", "", "", "", goRouteTable ? fmtNs(goRouteTable.nsPerOp) : "–", ""],
    ],
  ),
);
out.push("");
out.push(
  "Go/WASM > 1 means the WASM engine is faster. \"Go –\" rows were not run through opa bench (BENCH_OPA=all runs every input). `opa bench` runs Go's testing.Benchmark (≈1 s per input); its p50/p99 are OPA's " +
    "timer_rego_query_eval_ns histogram, ns/op is the whole prepared-query evaluation. The Node process and opa bench never run at the same time.",
);
if (goOk.length > 0) out.push(`Go allocations: ${Math.round(mean(goOk.map((g) => g.allocsPerOp))).toLocaleString("en-US")} allocs per decision (mean over inputs).`);
process.stdout.write(`${out.join("\n")}\n`);
if (sink < 0) process.stdout.write(String(sink));
