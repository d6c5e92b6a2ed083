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
log(`${targets.length} targets, ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s each (about ${Math.ceil((targets.length * (WARMUP + DURATION)) / 10) * 10} s)`);
for (const [i, t] of targets.entries()) {
  await check(t);
  const options: AutocannonOptions = { url: t.url, method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(t.body), connections: CONNECTIONS, duration: WARMUP };
  log(`[${i + 1}/${targets.length}] ${t.label}: warm-up ${WARMUP} s`);
  await autocannon(options);
  log(`[${i + 1}/${targets.length}] ${t.label}: ${DURATION} s`);
  const r = await autocannon({ ...options, duration: DURATION });
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
process.stdout.write(`${out.join("\n")}\n`);
