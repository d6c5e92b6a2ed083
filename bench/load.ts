// The load generator of scripts/bench.sh: autocannon (programmatic API) against each target in turn,
// a short warm-up first, then one timed run; prints req/s, p50 and p99 and the ratios to OPA.
// The servers are started (and stopped) by scripts/bench.sh, which passes their URLs:
//
//   SEED_FILE            written by bench/server.ts --seed (token values, equivalent OPA inputs)
//   TOLLGATE_URL         Tollgate, fact cache on (TOLLGATE_CACHE_TTL_MS default, 5 s)
//   TOLLGATE_TTL0_URL    Tollgate with TOLLGATE_CACHE_TTL_MS=0 (optional)
//   OPA_URL              opa run --server on the same policy source
//   BASELINE_HTTP_URL    bench/baseline.ts http    (optional)
//   BASELINE_EXPRESS_URL bench/baseline.ts express (optional)
//   BENCH_PIDS           name=pid,... of the servers, to report each one's CPU time per request (Linux /proc)
//   BENCH_CLK_TCK        clock ticks per second of /proc/PID/stat (getconf CLK_TCK, default 100)
//   BENCH_CONNECTIONS (50), BENCH_DURATION (8 s), BENCH_WARMUP (2 s)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, loadavg } from "node:os";
import type { SeedFile } from "./server.js";
import { fmtInt, fmtRatio, table } from "./stats.js";

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
interface AutocannonOptions {
  url: string;
  method: "POST" | "GET";
  headers: Record<string, string>;
  body?: string;
  connections: number;
  duration: number;
  pipelining?: number;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (o: AutocannonOptions) => Promise<AutocannonResult>;

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const log = (msg: string) => process.stderr.write(`==> ${msg}\n`);

const env = (name: string): string | undefined => process.env[name] || undefined;
const seed = JSON.parse(readFileSync(env("SEED_FILE") ?? "", "utf8")) as SeedFile;
const now = Math.floor(Date.now() / 1000);

interface Target {
  key: string;
  label: string;
  url: string;
  body: unknown;
  /** Checked once before the load: the answer must be an allow, or the numbers would be for a denial. */
  allowed(response: unknown): boolean;
  opaKey?: string;
}

const authorize = (token: string) => ({ method: "GET", path: seed.opaInputs.global.path, authorization: `Bearer ${token}` });
const tollgateAllowed = (r: unknown) => (r as { allow?: unknown; rate_limit?: unknown }).allow === true && (r as { rate_limit?: unknown }).rate_limit !== null;
const opaAllowed = (r: unknown) => (r as { result?: { allow?: unknown } }).result?.allow === true;

const targets: Target[] = [];
const tollgate = env("TOLLGATE_URL");
const ttl0 = env("TOLLGATE_TTL0_URL");
const opa = env("OPA_URL");
if (tollgate) {
  targets.push(
    { key: "tg-global", label: "(a) Tollgate /v1/authorize, global token, cache on", url: `${tollgate}/v1/authorize`, body: authorize(seed.tokens.global), allowed: tollgateAllowed, opaKey: "opa-global" },
    { key: "tg-project", label: "(a) Tollgate /v1/authorize, project token, cache on", url: `${tollgate}/v1/authorize`, body: authorize(seed.tokens.project), allowed: tollgateAllowed, opaKey: "opa-project" },
  );
}
if (ttl0) {
  targets.push(
    { key: "tg0-global", label: "(b) Tollgate /v1/authorize, global token, TTL 0", url: `${ttl0}/v1/authorize`, body: authorize(seed.tokens.global), allowed: tollgateAllowed, opaKey: "opa-global" },
    { key: "tg0-project", label: "(b) Tollgate /v1/authorize, project token, TTL 0", url: `${ttl0}/v1/authorize`, body: authorize(seed.tokens.project), allowed: tollgateAllowed, opaKey: "opa-project" },
  );
}
if (opa) {
  const url = `${opa}/v1/data/tollgate/authz/decision`;
  targets.push(
    { key: "opa-global", label: "(c) opa run --server, global-token input", url, body: { input: { ...seed.opaInputs.global, now } }, allowed: opaAllowed },
    { key: "opa-project", label: "(c) opa run --server, project-token input", url, body: { input: { ...seed.opaInputs.project, now } }, allowed: opaAllowed },
  );
}
const trivial = { method: "GET", path: seed.opaInputs.global.path, authorization: "Bearer x" };
const trivialAllowed = (r: unknown) => (r as { allow?: unknown }).allow === true;
if (env("BASELINE_EXPRESS_URL")) {
  targets.push({ key: "express", label: "(d) baseline: Express + express.json, trivial JSON POST", url: `${env("BASELINE_EXPRESS_URL")}/`, body: trivial, allowed: trivialAllowed });
}
if (env("BASELINE_HTTP_URL")) {
  targets.push({ key: "http", label: "(d) baseline: node:http, trivial JSON POST", url: `${env("BASELINE_HTTP_URL")}/`, body: trivial, allowed: trivialAllowed });
}

async function check(t: Target): Promise<void> {
  const res = await fetch(t.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(t.body) });
  const json = (await res.json()) as unknown;
  if (res.status !== 200 || !t.allowed(json)) throw new Error(`${t.label}: expected an allow, got HTTP ${res.status} ${JSON.stringify(json).slice(0, 400)}`);
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const results = new Map<string, AutocannonResult>();

// CPU time per process during each timed run: where the machine's two cores went.
const CLK_TCK = Number(process.env.BENCH_CLK_TCK ?? 100);
const tracked = (env("BENCH_PIDS") ?? "")
  .split(",")
  .filter(Boolean)
  .map((entry) => {
    const [name, pid] = entry.split("=");
    return { name: name!, pid: Number(pid) };
  });
/** CPU microseconds (user + system) the process has used so far; NaN when it cannot be read. */
function cpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
  } catch {
    return NaN;
  }
}
const snapshot = () => [...tracked.map((t) => cpuUs(t.pid)), process.cpuUsage().user + process.cpuUsage().system];
const cpuNames = [...tracked.map((t) => t.name), "autocannon"];
/** Per target: CPU µs per request for each tracked process and for autocannon (this process). */
const cpuPerRequest = new Map<string, number[]>();
log(`${targets.length} targets, ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s each (about ${Math.ceil((targets.length * (WARMUP + DURATION)) / 10) * 10} s)`);
for (const [i, t] of targets.entries()) {
  await check(t);
  const options: AutocannonOptions = { url: t.url, method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(t.body), connections: CONNECTIONS, duration: WARMUP };
  log(`[${i + 1}/${targets.length}] ${t.label}: warm-up ${WARMUP} s`);
  await autocannon(options);
  log(`[${i + 1}/${targets.length}] ${t.label}: ${DURATION} s`);
  const before = snapshot();
  const r = await autocannon({ ...options, duration: DURATION });
  const after = snapshot();
  cpuPerRequest.set(
    t.key,
    after.map((v, j) => (v - before[j]!) / Math.max(1, r.requests.total)),
  );
  log(`    ${fmtInt(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx}`);
  results.set(t.key, r);
}

const rows = targets.map((t) => {
  const r = results.get(t.key)!;
  const o = t.opaKey ? results.get(t.opaKey) : undefined;
  return [
    t.label,
    fmtInt(r.requests.average),
    `${r.latency.p50} ms`,
    `${r.latency.p99} ms`,
    `${r.latency.average.toFixed(2)} ms`,
    String(r.errors + r.timeouts + r.non2xx),
    o ? fmtRatio(r.requests.average / o.requests.average) : "",
    o ? fmtRatio(r.latency.p50 / o.latency.p50) : "",
    o ? fmtRatio(r.latency.p99 / o.latency.p99) : "",
  ];
});
const out = [
  "# Tollgate HTTP benchmark",
  "",
  `autocannon ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s per target, one target at a time, all on 127.0.0.1.`,
  `${availableParallelism()} cores shared by autocannon (one Node process) and the server under test (and, idle, the others): ` +
    "req/s is what this one machine does with the load generator on it, not a server's capacity.",
  `Load average (1/5/15 min) before the first run: ${loadBefore}; after the last: ${load()}.`,
  "",
  table(["target", "req/s", "p50", "p99", "mean", "errors", "req/s ÷ OPA", "p50 ÷ OPA", "p99 ÷ OPA"], rows),
  "",
  "Ratios compare each Tollgate run with the OPA run of the equivalent input (the facts Tollgate looks up are already in OPA's input).",
  "errors = connection errors + timeouts + non-2xx answers; every target was checked to answer allow before its run.",
];
if (tracked.length > 0) {
  // Only the processes that did measurable work in some run get a column.
  const used = cpuNames.map((_, j) => targets.some((t) => (cpuPerRequest.get(t.key)?.[j] ?? 0) >= 5));
  const fmtCpu = (us: number | undefined) => (us === undefined || !Number.isFinite(us) ? "–" : us < 5 ? "" : fmtInt(us));
  out.push(
    "",
    "## CPU time per request, by process (µs; user + system, during the timed run)",
    "",
    table(
      ["target", ...cpuNames.filter((_, j) => used[j]), "all"],
      targets.map((t) => {
        const cpu = cpuPerRequest.get(t.key)!;
        const total = cpu.filter(Number.isFinite).reduce((a, b) => a + b, 0);
        return [t.label, ...cpu.filter((_, j) => used[j]).map(fmtCpu), fmtInt(total)];
      }),
    ),
    "",
    `Blank: under 5 µs. ${availableParallelism()} cores give ${fmtInt(availableParallelism() * 1e6)} µs of CPU per second: ` +
      "when \"all\" × req/s comes close to that, the cores were the limit, not one server.",
  );
}
process.stdout.write(`${out.join("\n")}\n`);
