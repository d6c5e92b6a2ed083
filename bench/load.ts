// The load generator of scripts/bench.sh: autocannon (programmatic API) against each target in turn,
// a short warm-up first, then one timed run; prints req/s, p50 and p99, the ratios to OPA, and the
// gateway against its upstream reached directly. Any answer that is not 2xx (or, for the gateway
// pair, not the upstream's body) fails the run after the tables are printed.
// The servers are started (and stopped) by scripts/bench.sh, which passes their URLs:
//
//   SEED_FILE            written by bench/server.ts --seed (token values, equivalent OPA inputs)
//   TOLLGATE_URL         Tollgate, fact cache on (TOLLGATE_CACHE_TTL_MS default, 5 s); its gateway
//                        proxies to UPSTREAM_URL
//   UPSTREAM_URL         bench/baseline.ts upstream (optional): the gateway pair, GET BENCH_PATH
//                        through Tollgate's gateway and straight to the upstream
//   TOLLGATE_TTL0_URL    Tollgate with TOLLGATE_CACHE_TTL_MS=0 (optional)
//   TOLLGATE_MEM_URL     Tollgate on memory stores (optional), seeded into SEED_MEM_FILE
//   TOLLGATE_LEAN_EXPRESS_URL  the same process's /v1/authorize through a lean Express route
//   REDIS_URL            the Redis of TOLLGATE_URL: commands it processed per request (INFO stats)
//   OPA_URL              opa run --server on the same policy source
//   BASELINE_HTTP_URL    bench/baseline.ts http    (optional)
//   BASELINE_EXPRESS_URL bench/baseline.ts express (optional)
//   BENCH_PIDS           name=pid,... of the servers, to report each one's CPU time per request (Linux /proc)
//   BENCH_CLK_TCK        clock ticks per second of /proc/PID/stat (getconf CLK_TCK, default 100)
//   BENCH_CONNECTIONS (50), BENCH_DURATION (8 s), BENCH_WARMUP (2 s)
//   BENCH_ROUNDS (1)     each timed run in this many rounds, the targets taken in turn (medians of the
//                        rounds' p50 and p99)
//   BENCH_SERIAL (4 s)   the gateway pair once more, one request at a time (0 skips it)
//   BENCH_TARGETS        only these targets, in this order (keys: tg-global, tg-project, tg0-global, tg0-project,
//                        opa-global, opa-project, express, http, tg-mem, tg-mem-base, tg-mem-express, direct, gateway, gateway-base; direct before
//                        any gateway)
//   TOLLGATE_BASE_URL    Tollgate with src/ at another revision, proxying to UPSTREAM_URL (optional):
//                        its gateway joins the pair, named BENCH_BASE_LABEL
//   TOLLGATE_MEM_BASE_URL, SEED_MEM_BASE_FILE  the same revision on memory stores (optional): target tg-mem-base
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { createRequire } from "node:module";
import { availableParallelism, loadavg } from "node:os";
import type { SeedFile } from "./server.js";
import { fmtInt, fmtNs, fmtRatio, summarize, table } from "./stats.js";

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  statusCodeStats: Record<string, { count: number }>;
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
  /** Every answer must have exactly this body, or it counts as a mismatch. */
  expectBody?: string;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (o: AutocannonOptions) => Promise<AutocannonResult>;

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const SERIAL = Number(process.env.BENCH_SERIAL ?? 4);
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 1)));
const log = (msg: string) => process.stderr.write(`==> ${msg}\n`);

const env = (name: string): string | undefined => process.env[name] || undefined;
const seed = JSON.parse(readFileSync(env("SEED_FILE") ?? "", "utf8")) as SeedFile;
const memSeedFile = env("SEED_MEM_FILE");
const memSeed = memSeedFile ? (JSON.parse(readFileSync(memSeedFile, "utf8")) as SeedFile) : undefined;
const now = Math.floor(Date.now() / 1000);

interface Target {
  key: string;
  label: string;
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /**
   * Checked once before the load (an allow, the upstream's answer...), or the numbers would be for
   * something else: a problem, or null. May set expectBody for the timed runs.
   */
  check(res: Response, text: string): string | null;
  expectBody?: string;
  opaKey?: string;
}

const BENCH_PATH = seed.opaInputs.global.path;
const json = { "content-type": "application/json" };
const authorize = (token: string) => JSON.stringify({ method: "GET", path: BENCH_PATH, authorization: `Bearer ${token}` });
/** A POST target whose 200 JSON answer must satisfy `allowed`. */
const post = (t: Omit<Target, "method" | "headers" | "check">, allowed: (r: unknown) => boolean): Target => ({
  ...t,
  method: "POST",
  headers: json,
  check: (res, text) => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return res.status === 200 && allowed(body) ? null : `expected an allow, got HTTP ${res.status} ${text.slice(0, 400)}`;
  },
});
const tollgateAllowed = (r: unknown) => (r as { allow?: unknown; rate_limit?: unknown }).allow === true && (r as { rate_limit?: unknown }).rate_limit !== null;
const opaAllowed = (r: unknown) => (r as { result?: { allow?: unknown } }).result?.allow === true;

const targets: Target[] = [];
const tollgate = env("TOLLGATE_URL");
const ttl0 = env("TOLLGATE_TTL0_URL");
const opa = env("OPA_URL");
const upstream = env("UPSTREAM_URL");
if (tollgate) {
  targets.push(
    post({ key: "tg-global", label: "(a) Tollgate /v1/authorize, global token, cache on", url: `${tollgate}/v1/authorize`, body: authorize(seed.tokens.global), opaKey: "opa-global" }, tollgateAllowed),
    post({ key: "tg-project", label: "(a) Tollgate /v1/authorize, project token, cache on", url: `${tollgate}/v1/authorize`, body: authorize(seed.tokens.project), opaKey: "opa-project" }, tollgateAllowed),
  );
}
const mem = env("TOLLGATE_MEM_URL");
const leanExpress = env("TOLLGATE_LEAN_EXPRESS_URL");
if (mem && memSeed) {
  targets.push(post({ key: "tg-mem", label: "(f) Tollgate /v1/authorize, global token, memory stores", url: `${mem}/v1/authorize`, body: authorize(memSeed.tokens.global) }, tollgateAllowed));
}
const memBase = env("TOLLGATE_MEM_BASE_URL");
const memBaseSeedFile = env("SEED_MEM_BASE_FILE");
if (memBase && memBaseSeedFile) {
  const baseSeed = JSON.parse(readFileSync(memBaseSeedFile, "utf8")) as SeedFile;
  targets.push(
    post(
      { key: "tg-mem-base", label: `(f) /v1/authorize of ${env("BENCH_BASE_LABEL") ?? "the base revision"}, memory stores`, url: `${memBase}/v1/authorize`, body: authorize(baseSeed.tokens.global) },
      tollgateAllowed,
    ),
  );
}
if (leanExpress && memSeed) {
  targets.push(
    post({ key: "tg-mem-express", label: "(f) the same /v1/authorize through a lean Express route", url: `${leanExpress}/v1/authorize`, body: authorize(memSeed.tokens.global) }, tollgateAllowed),
  );
}
if (ttl0) {
  targets.push(
    post({ key: "tg0-global", label: "(b) Tollgate /v1/authorize, global token, TTL 0", url: `${ttl0}/v1/authorize`, body: authorize(seed.tokens.global), opaKey: "opa-global" }, tollgateAllowed),
    post({ key: "tg0-project", label: "(b) Tollgate /v1/authorize, project token, TTL 0", url: `${ttl0}/v1/authorize`, body: authorize(seed.tokens.project), opaKey: "opa-project" }, tollgateAllowed),
  );
}
if (opa) {
  const url = `${opa}/v1/data/tollgate/authz/decision`;
  targets.push(
    post({ key: "opa-global", label: "(c) opa run --server, global-token input", url, body: JSON.stringify({ input: { ...seed.opaInputs.global, now } }) }, opaAllowed),
    post({ key: "opa-project", label: "(c) opa run --server, project-token input", url, body: JSON.stringify({ input: { ...seed.opaInputs.project, now } }) }, opaAllowed),
  );
}
const trivial = JSON.stringify({ method: "GET", path: BENCH_PATH, authorization: "Bearer x" });
const trivialAllowed = (r: unknown) => (r as { allow?: unknown }).allow === true;
if (env("BASELINE_EXPRESS_URL")) {
  targets.push(post({ key: "express", label: "(d) baseline: Express + express.json, trivial JSON POST", url: `${env("BASELINE_EXPRESS_URL")}/`, body: trivial }, trivialAllowed));
}
if (env("BASELINE_HTTP_URL")) {
  targets.push(post({ key: "http", label: "(d) baseline: node:http, trivial JSON POST", url: `${env("BASELINE_HTTP_URL")}/`, body: trivial }, trivialAllowed));
}

// The gateway pair: the same GET, straight to the upstream, then through Tollgate's gateway (project
// token, allowed, rate limited in Redis, audited in MongoDB), back to back. Both must answer the
// upstream's exact body on every request (autocannon's expectBody); the direct run learns it first.
let upstreamBody: string | undefined;
const gatewayHeaders = { authorization: `Bearer ${seed.tokens.project}` };
if (upstream && tollgate) {
  const direct: Target = {
    key: "direct",
    label: "(e) straight to the upstream, GET",
    url: `${upstream}${BENCH_PATH}`,
    method: "GET",
    headers: gatewayHeaders,
    check(res, text) {
      if (res.status !== 200 || res.headers.get("x-bench-upstream") !== "1") return `expected the upstream's 200, got HTTP ${res.status} ${text.slice(0, 400)}`;
      upstreamBody = text;
      direct.expectBody = text;
      return null;
    },
  };
  const through: Target = {
    key: "gateway",
    label: "(e) through Tollgate's gateway, GET, project token",
    url: `${tollgate}${BENCH_PATH}`,
    method: "GET",
    headers: gatewayHeaders,
    check(res, text) {
      const problem =
        res.status !== 200 ? `HTTP ${res.status}`
        : res.headers.get("x-bench-upstream") !== "1" ? "the answer is not the upstream's"
        : res.headers.get("x-bench-saw-decision") !== "1" ? "the upstream did not get x-tollgate-decision-id"
        : res.headers.get("x-tollgate-token-type") !== "project_token" ? "no X-Tollgate-Token-Type: project_token"
        : !res.headers.get("ratelimit") ? "no RateLimit header (Redis not consulted?)"
        : upstreamBody === undefined || text !== upstreamBody ? "the body differs from the upstream's"
        : null;
      if (problem) return `expected the upstream's answer through the gateway: ${problem}; got HTTP ${res.status} ${text.slice(0, 400)}`;
      through.expectBody = upstreamBody;
      return null;
    },
  };
  targets.push(direct, through);
  const base = env("TOLLGATE_BASE_URL");
  if (base) {
    const atBase: Target = {
      ...through,
      key: "gateway-base",
      label: `(e) through the gateway of ${env("BENCH_BASE_LABEL") ?? "the base revision"}, GET, project token`,
      url: `${base}${BENCH_PATH}`,
      check(res, text) {
        const problem = through.check(res, text);
        atBase.expectBody = through.expectBody;
        return problem;
      },
    };
    targets.push(atBase);
  }
}

const only = env("BENCH_TARGETS")?.split(",").map((k) => k.trim());
if (only) {
  const picked = only.map((key) => targets.find((t) => t.key === key) ?? fail(`BENCH_TARGETS: no target ${key} here`));
  const directAt = only.indexOf("direct");
  if (only.some((k, i) => k.startsWith("gateway") && !(directAt >= 0 && directAt < i))) fail("BENCH_TARGETS: list direct before any gateway");
  targets.splice(0, targets.length, ...picked);
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

async function check(t: Target): Promise<void> {
  const res = await fetch(t.url, { method: t.method, headers: t.headers, ...(t.body === undefined ? {} : { body: t.body }) });
  const problem = t.check(res, await res.text());
  if (problem) throw new Error(`${t.label}: ${problem}`);
}

/**
 * The gateway pair one request at a time on one keep-alive connection each, alternating direct and
 * through Tollgate, for `seconds` (after a short warm-up): the latency Tollgate adds to a request
 * when nothing queues. Nanosecond samples of the expected answers per target key, and a description
 * of each other answer (which fails the run; at most the first 10 are kept).
 */
async function serial(pair: Target[], seconds: number): Promise<{ samples: Map<string, Float64Array>; bad: string[] }> {
  const agents = pair.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const bad: string[] = [];
  let badCount = 0;
  /** Nanoseconds to the end of the expected answer; null (and a note in bad) for any other outcome. */
  const once = (t: Target, agent: Agent): Promise<number | null> =>
    new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const fail = (what: string) => {
        if (++badCount <= 10) bad.push(`${t.label}, one request at a time: ${what}`);
        resolve(null);
      };
      const req = request(t.url, { method: t.method, headers: t.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const elapsed = Number(process.hrtime.bigint() - started);
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200 || text !== t.expectBody) fail(`HTTP ${res.statusCode} ${text.slice(0, 200)}`);
          else resolve(elapsed);
        });
        res.on("error", (err) => fail(err.message));
      });
      req.setTimeout(10_000, () => req.destroy(new Error("no answer within 10 s")));
      req.on("error", (err) => fail(err.message));
      req.end();
    });
  const run = async (ms: number) => {
    const samples = pair.map(() => [] as number[]);
    const end = Date.now() + ms;
    while (Date.now() < end && badCount === 0) {
      for (const [i, t] of pair.entries()) {
        const ns = await once(t, agents[i]!);
        if (ns !== null) samples[i]!.push(ns);
      }
    }
    return new Map(pair.map((t, i) => [t.key, Float64Array.from(samples[i]!)]));
  };
  try {
    await run(Math.min(1_000, seconds * 250));
    const samples = await run(seconds * 1_000);
    if (badCount > 10) bad.push(`... ${badCount - 10} more`);
    return { samples, bad };
  } finally {
    for (const a of agents) a.destroy();
  }
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
/**
 * Round trips the benchmark's Redis has served so far: the calls of every command a client sent
 * (INFO commandstats), not counting the commands a Lua script runs inside its one EVALSHA
 * (NaN without REDIS_URL or redis-cli).
 */
const redisUrl = env("REDIS_URL");
// What src/stores/redis/ scripts call inside redis.call (grep "redis.call" there when they change).
const SCRIPT_INNER = new Set(["del", "hdel", "hexists", "hget", "hincrby", "hmget", "hset", "pexpire", "time"]);
function redisCommands(): number {
  if (!redisUrl) return NaN;
  try {
    const info = execFileSync("redis-cli", ["-u", redisUrl, "info", "commandstats"], { encoding: "utf8" });
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) if (!SCRIPT_INNER.has(m[1]!)) calls += Number(m[2]);
    return calls;
  } catch {
    return NaN;
  }
}
/** Per target: Redis commands during its timed runs (the INFO call itself is one). */
const redisUsed = new Map<string, number>();
const snapshot = () => [...tracked.map((t) => cpuUs(t.pid)), process.cpuUsage().user + process.cpuUsage().system];
const cpuNames = [...tracked.map((t) => t.name), "autocannon"];
/** Per target: CPU µs per request for each tracked process and for autocannon (this process). */
const cpuPerRequest = new Map<string, number[]>();
const gatewayPair = targets.filter((t) => t.key === "direct" || t.key.startsWith("gateway"));
const serialS = gatewayPair.length >= 2 && SERIAL > 0 ? SERIAL : 0;
log(
  `${targets.length} targets, ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s each` +
    `${serialS ? `, then the gateway pair one request at a time for ${serialS} s` : ""} (about ${Math.ceil((targets.length * (WARMUP + DURATION) + serialS * 1.25) / 10) * 10} s)`,
);
/**
 * Rounds of one timed run: the sum of their answers and time, their latency percentiles' medians
 * (each round's p50 and p99, not the percentiles of all answers together; exact for one round).
 */
function merge(rounds: AutocannonResult[]): AutocannonResult {
  const sum = (pick: (r: AutocannonResult) => number) => rounds.reduce((a, r) => a + pick(r), 0);
  const median = (pick: (r: AutocannonResult) => number) => {
    const v = rounds.map(pick).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const total = sum((r) => r.requests.total);
  const duration = sum((r) => r.duration);
  const statusCodeStats: AutocannonResult["statusCodeStats"] = {};
  for (const r of rounds) for (const [code, { count }] of Object.entries(r.statusCodeStats)) statusCodeStats[code] = { count: (statusCodeStats[code]?.count ?? 0) + count };
  return {
    requests: { total, average: total / duration },
    latency: {
      p50: median((r) => r.latency.p50),
      p99: median((r) => r.latency.p99),
      average: sum((r) => r.latency.average * r.requests.total) / Math.max(1, total),
      max: Math.max(...rounds.map((r) => r.latency.max)),
    },
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    mismatches: sum((r) => r.mismatches),
    statusCodeStats,
    duration,
  };
}

// BENCH_ROUNDS > 1 splits each timed run into rounds taken in turn (A B C A B C...), so that
// other work on the machine weighs on every target alike: the way to compare under shared load.
const roundResults = new Map<string, AutocannonResult[]>();
const cpuUsed = new Map<string, number[]>();
const optionsOf = (t: Target): AutocannonOptions => ({
  url: t.url,
  method: t.method,
  headers: t.headers,
  ...(t.body === undefined ? {} : { body: t.body }),
  ...(t.expectBody === undefined ? {} : { expectBody: t.expectBody }),
  connections: CONNECTIONS,
  duration: DURATION / ROUNDS,
});
for (let round = 1; round <= ROUNDS; round++) {
  for (const [i, t] of targets.entries()) {
    if (round === 1) {
      await check(t);
      log(`[${i + 1}/${targets.length}] ${t.label}: warm-up ${WARMUP} s`);
      await autocannon({ ...optionsOf(t), duration: WARMUP });
    }
    log(`[${i + 1}/${targets.length}] ${t.label}: ${DURATION / ROUNDS} s${ROUNDS > 1 ? ` (round ${round}/${ROUNDS})` : ""}`);
    const before = snapshot();
    const redisBefore = redisCommands();
    const r = await autocannon(optionsOf(t));
    const redisAfter = redisCommands();
    const after = snapshot();
    redisUsed.set(t.key, (redisUsed.get(t.key) ?? 0) + redisAfter - redisBefore - 1);
    const used = cpuUsed.get(t.key) ?? after.map(() => 0);
    cpuUsed.set(t.key, used.map((v, j) => v + after[j]! - before[j]!));
    roundResults.set(t.key, [...(roundResults.get(t.key) ?? []), r]);
    log(`    ${fmtInt(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx}, body mismatches ${r.mismatches}`);
  }
}
for (const t of targets) {
  const r = merge(roundResults.get(t.key)!);
  results.set(t.key, r);
  cpuPerRequest.set(
    t.key,
    cpuUsed.get(t.key)!.map((v) => v / Math.max(1, r.requests.total)),
  );
}
/** Every answer of a timed run must be 2xx (and the expected body, where there is one). */
const failures = targets.flatMap((t) => {
  const r = results.get(t.key)!;
  if (r.errors + r.timeouts + r.non2xx + r.mismatches === 0) return [];
  const codes = Object.entries(r.statusCodeStats)
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, { count }]) => `${fmtInt(count)} × HTTP ${code}`);
  const parts = [
    ...codes,
    r.errors && `${fmtInt(r.errors)} connection errors`,
    r.timeouts && `${fmtInt(r.timeouts)} timeouts`,
    r.mismatches && `${fmtInt(r.mismatches)} answers with another body than the expected one`,
  ].filter(Boolean);
  return [`${t.label}: ${parts.join(", ")} (${fmtInt(r.requests.total)} answers in all)`];
});
let serialSamples: Map<string, Float64Array> | undefined;
if (serialS && failures.length === 0) {
  log(`gateway pair, one request at a time, alternating: ${serialS} s`);
  const { samples, bad } = await serial(gatewayPair, serialS);
  if (bad.length === 0) serialSamples = samples;
  failures.push(...bad);
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
  `autocannon ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s per target, one target at a time` +
    `${ROUNDS > 1 ? ` in ${ROUNDS} rounds taken in turn (p50 and p99: medians of the rounds')` : ""}, all on 127.0.0.1.`,
  `${availableParallelism()} cores shared by autocannon (one Node process) and the server under test (and, idle, the others): ` +
    "req/s is what this one machine does with the load generator on it, not a server's capacity.",
  `Load average (1/5/15 min) before the first run: ${loadBefore}; after the last: ${load()}.`,
  "",
  table(["target", "req/s", "p50", "p99", "mean", "errors", "req/s ÷ OPA", "p50 ÷ OPA", "p99 ÷ OPA"], rows),
  "",
  "Ratios compare each Tollgate run with the OPA run of the equivalent input (the facts Tollgate looks up are already in OPA's input).",
  "errors = connection errors + timeouts + non-2xx answers. Every target was checked to answer allow (or, for (e), " +
    "the upstream's answer) before its run; (e) must also answer the upstream's exact body every time. Any error fails the run.",
];
const direct = results.get("direct");
/** Each gateway measured (this checkout's, and the base revision's when there is one). */
const gateways = targets.filter((t) => t.key.startsWith("gateway") && results.has(t.key));
if (direct && gateways.length > 0) {
  const ms = (v: number) => `${v} ms`;
  const added = (v: number) => `${v >= 0 ? "+" : ""}${v} ms`;
  const name = (t: Target) => (t.key === "gateway" ? "Tollgate" : env("BENCH_BASE_LABEL") ?? "base");
  /** Per gateway: its figure, ÷ direct, and what it adds (where that means something). */
  const columns = (figure: (r: AutocannonResult) => number, show: (v: number) => string, withAdded: boolean) =>
    gateways.flatMap((t) => {
      const v = figure(results.get(t.key)!);
      const d = figure(direct);
      return [show(v), fmtRatio(v / d), withAdded ? added(Number((v - d).toFixed(3))) : ""];
    });
  const rows: string[][] = [
    [`req/s, ${CONNECTIONS} connections`, fmtInt(direct.requests.average), ...columns((r) => r.requests.average, fmtInt, false)],
    [`p50, ${CONNECTIONS} connections`, ms(direct.latency.p50), ...columns((r) => r.latency.p50, ms, true)],
    [`p99, ${CONNECTIONS} connections`, ms(direct.latency.p99), ...columns((r) => r.latency.p99, ms, true)],
  ];
  const sd = serialSamples?.get("direct");
  if (sd && gateways.every((t) => serialSamples?.has(t.key))) {
    const d = summarize(sd);
    const g = gateways.map((t) => summarize(serialSamples!.get(t.key)!));
    const addedNs = (v: number) => `+${fmtNs(v)}`;
    const serialRow = (label: string, pick: (s: ReturnType<typeof summarize>) => number): string[] => [
      label,
      fmtNs(pick(d)),
      ...g.flatMap((s) => [fmtNs(pick(s)), fmtRatio(pick(s) / pick(d)), addedNs(pick(s) - pick(d))]),
    ];
    rows.push(
      serialRow(`p50, one request at a time (${fmtInt(d.n)} each)`, (s) => s.p50),
      serialRow("p99, one request at a time", (s) => s.p99),
      serialRow("mean, one request at a time", (s) => s.mean),
    );
  }
  out.push(
    "",
    "## The gateway: through Tollgate versus straight to the upstream",
    "",
    `GET ${BENCH_PATH} with a project token (read) to a trivial node:http upstream answering ${fmtInt(Buffer.byteLength(upstreamBody ?? ""))} bytes of JSON,` +
      " straight and through Tollgate (fact cache on, Redis rate limit, audit to MongoDB), back to back, same connections and duration.",
    "",
    table(["measurement", "direct", ...gateways.flatMap((t) => [`through ${name(t)}`, `${name(t)} ÷ direct`, `added by ${name(t)}`])], rows),
    "",
    `Under ${CONNECTIONS} connections latency is mostly queueing (connections ÷ req/s)` +
      (sd ? "; one request at a time (alternating, one keep-alive connection each, timed in the load process) shows what Tollgate adds to a single request." : "."),
  );
}
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
{
  // Issue 8's rows: every one a ratio (or a count) taken from this run, so shared load weighs alike.
  const base = results.get("http");
  const reqs = (key: string) => results.get(key)?.requests.average;
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? "–" : fmtRatio(a / b));
  const cpuOf = (key: string, process: string) => {
    const j = cpuNames.indexOf(process);
    const v = j >= 0 ? cpuPerRequest.get(key)?.[j] : undefined;
    return v === undefined || !Number.isFinite(v) ? "–" : `${fmtInt(v)} µs`;
  };
  const perRequest = (key: string) => {
    const used = redisUsed.get(key);
    const r = results.get(key);
    return used === undefined || !r || !Number.isFinite(used) ? "–" : (used / Math.max(1, r.requests.total)).toFixed(2);
  };
  const sd = serialSamples?.get("direct");
  const sg = serialSamples?.get("gateway");
  const addedP50 = sd && sg ? `+${fmtNs(summarize(sg).p50 - summarize(sd).p50)}` : "–";
  const rows8: string[][] = [
    ["/v1/authorize, memory stores ÷ node:http JSON POST (req/s)", ratio(reqs("tg-mem"), base?.requests.average), "≥ 0.30×"],
    ["/v1/authorize, Redis + FerretDB (cache warm) ÷ node:http JSON POST", ratio(reqs("tg-global"), base?.requests.average), "≥ 0.20×"],
    ["Tollgate CPU per /v1/authorize, memory stores (/proc)", cpuOf("tg-mem", "tollgate-mem"), "≤ 120 µs"],
    ["Tollgate CPU per /v1/authorize, Redis + FerretDB", cpuOf("tg-global", "tollgate"), ""],
    ["node:http JSON POST baseline CPU per request", cpuOf("http", "baseline-http"), ""],
    ["gateway ÷ direct to the trivial upstream (req/s)", ratio(reqs("gateway"), reqs("direct")), "≥ 0.15×"],
    ["Tollgate CPU per gateway request", cpuOf("gateway", "tollgate"), ""],
    ["gateway added p50, one request at a time", addedP50, "≤ +0.5 ms"],
    ["Redis round trips per /v1/authorize (Redis + FerretDB)", perRequest("tg-global"), "1"],
    ["Redis round trips per gateway request", perRequest("gateway"), "1"],
    ...(results.has("tg-mem-base")
      ? [
          ["/v1/authorize, memory stores: this checkout ÷ the base revision (req/s)", ratio(reqs("tg-mem"), reqs("tg-mem-base")), "(comparison)"],
          ["Tollgate CPU per /v1/authorize, memory stores, at the base revision", cpuOf("tg-mem-base", "tollgate-mem-base"), "(comparison)"],
        ]
      : []),
    ["lean Express /v1/authorize, memory stores ÷ node:http JSON POST", ratio(reqs("tg-mem-express"), base?.requests.average), "(comparison)"],
    ["lean Express /v1/authorize CPU per request", cpuOf("tg-mem-express", "tollgate-mem"), "(comparison)"],
  ];
  out.push(
    "",
    "## Issue 8: the fast path, as ratios in this run",
    "",
    table(["measure", "this run", "target"], rows8),
    "",
    "Redis round trips: calls of client-sent commands in INFO commandstats over the timed run ÷ answers (the rate limiter's EVALSHA counts once, " +
      "not the hash commands its script runs; the invalidation heartbeats and the INFO calls are included; a pipelined command counts as one each).",
  );
}
if (failures.length > 0) out.push("", "## FAILED: answers that were not the expected 2xx (these figures are not comparable)", "", ...failures.map((f) => `- ${f}`));
process.stdout.write(`${out.join("\n")}\n`);
if (failures.length > 0) {
  process.stderr.write(`bench: FAILED, ${failures.length} target(s) got answers that were not the expected 2xx; their figures are not comparable:\n${failures.map((f) => `  ${f}`).join("\n")}\n`);
  process.exit(1);
}
