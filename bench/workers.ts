// `make bench-workers`: TOLLGATE_WORKERS=1 against 2 on this machine, with the load generator
// pinned apart by `taskset`. Starts redis-server and FerretDB (SQLite) on free loopback ports,
// seeds a user, a private project, a collaborator and a global token, then one Tollgate
// (`node --import tsx src/main.ts`, fact cache on) per placement below, each under `taskset`, and
// runs autocannon (its CLI, a separate process, also under `taskset`) against
// POST /v1/authorize with that token — an allow, facts from the warm cache, one Redis round trip
// for the rate limit, one audit record to FerretDB. The placements take turns, BENCH_ROUNDS times;
// the table shows the medians. Everything it starts is stopped on exit.
//
// This script, and so redis-server and FerretDB, run on CPU 0. Placements (BENCH_PLACEMENTS):
//   w1-cpu1     1 worker on CPU 1; load generator on CPU 0 (with the stores)
//   w2-cpu01    2 workers on CPUs 0-1; load generator on CPU 0 (the second worker shares CPU 0
//               with the load generator and the stores)
//   w2-cpu1     2 workers both on CPU 1: the cost of a second process without a second core
//   w1-shared   1 worker, load generator on CPUs 0-1: everything shares both cores
//   w2-shared   2 workers, load generator on CPUs 0-1
//
//   BENCH_CONNECTIONS=50 BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_ROUNDS=3
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { freePort, startFerretDb, startRedis, type MongoServer, type RedisServer } from "../test/support/servers.js";
import { adminRequest } from "./admin.js";
import { fmtInt, fmtRatio, table } from "./stats.js";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 3)));
const ADMIN = "bench-workers-admin-token-0123456789abcdef";
const STARTUP_MS = 90_000;
/** Each Tollgate's pruning worker prunes the audit trail 30 s after start: let it pass on the empty collection. */
const FIRST_PRUNE_MS = 32_000;
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

interface Placement {
  key: string;
  workers: 1 | 2;
  serverCpus: string;
  loadCpus: string;
  what: string;
}
const PLACEMENTS: Placement[] = [
  { key: "w1-cpu1", workers: 1, serverCpus: "1", loadCpus: "0", what: "1 worker on CPU 1, load on CPU 0" },
  { key: "w2-cpu01", workers: 2, serverCpus: "0,1", loadCpus: "0", what: "2 workers on CPUs 0-1, load on CPU 0" },
  { key: "w2-cpu1", workers: 2, serverCpus: "1", loadCpus: "0", what: "2 workers both on CPU 1, load on CPU 0" },
  { key: "w1-shared", workers: 1, serverCpus: "0,1", loadCpus: "0,1", what: "1 worker, load on CPUs 0-1 (all shared)" },
  { key: "w2-shared", workers: 2, serverCpus: "0,1", loadCpus: "0,1", what: "2 workers, load on CPUs 0-1 (all shared)" },
];
const wanted = (process.env.BENCH_PLACEMENTS ?? PLACEMENTS.map((p) => p.key).join(",")).split(",");
const placements = PLACEMENTS.filter((p) => wanted.includes(p.key));
if (placements.length === 0) throw new Error(`BENCH_PLACEMENTS names none of ${PLACEMENTS.map((p) => p.key).join(", ")}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`==> ${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

interface Server {
  placement: Placement;
  child: ChildProcess;
  base: string;
  output: string;
}
const servers: Server[] = [];
process.on("exit", () => servers.forEach((s) => s.child.kill("SIGKILL")));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

/** The process listening on this loopback port (ss -p). */
function pidOnPort(port: number): number {
  const line = execFileSync("ss", ["-ltnpH", `( sport = :${port} )`], { encoding: "utf8" });
  const pid = /pid=(\d+)/.exec(line)?.[1];
  if (!pid) throw new Error(`no process found listening on port ${port}`);
  return Number(pid);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return 0; // exited
  }
}
/** A Tollgate's primary and its workers. */
function tollgatePids(server: Server): number[] {
  let children = "";
  try {
    children = execFileSync("ps", ["-o", "pid=", "--ppid", String(server.child.pid)], { encoding: "utf8" }).trim();
  } catch {
    // ps exits 1 when the process has no children
  }
  return [server.child.pid!, ...(children ? children.split(/\s+/).map(Number) : [])];
}

async function startTollgate(placement: Placement, mongo: MongoServer, redis: RedisServer): Promise<Server> {
  const port = await freePort();
  // taskset here pins the server (and the workers it forks) wherever the placement says,
  // whatever this script's own affinity.
  const child = spawn("taskset", ["-c", placement.serverCpus, process.execPath, "--import", "tsx", "src/main.ts"], {
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      TOLLGATE_WORKERS: String(placement.workers),
      MONGODB_URI: mongo.uri,
      MONGODB_DB: mongo.dbName,
      REDIS_URL: redis.url,
      TOLLGATE_REDIS_NAMESPACE: "bench-workers",
      // Limits up to 1,000,000 per window: never reached here.
      TOLLGATE_RATE_LIMITS: '{"api":{"default":1000000}}',
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      TOLLGATE_JWT_SECRET: "bench-workers-secret-0123456789-0123456789",
      TOLLGATE_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const server: Server = { placement, child, base: `http://127.0.0.1:${port}`, output: "" };
  servers.push(server);
  child.stderr!.on("data", (chunk: Buffer) => (server.output = (server.output + chunk.toString()).slice(-8_192)));
  for (const deadline = Date.now() + STARTUP_MS; ; await sleep(250)) {
    // Ready, and as many processes under the primary as workers asked for.
    if ((await fetch(`${server.base}/readyz`).then((r) => r.status === 200, () => false)) && tollgatePids(server).length === placement.workers + (placement.workers > 1 ? 1 : 0)) return server;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${placement.key} did not become ready:\n${server.output}`);
  }
}

const admin = (base: string, method: string, path: string, body?: object): Promise<Response> => adminRequest(base, ADMIN, method, path, body);

interface Result {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** CPU seconds over the timed run. */
  tollgateCpu: number;
  storesCpu: number;
  total: number;
}

/** autocannon's CLI as its own process on the placement's load CPUs; its --json result. */
function autocannon(placement: Placement, url: string, body: string, seconds: number): Promise<{ requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const args = ["-c", placement.loadCpus, process.execPath, "node_modules/autocannon/autocannon.js", "-j", "-c", String(CONNECTIONS), "-d", String(seconds), "-m", "POST", "-H", "content-type=application/json", "-b", body, url];
    const child = spawn("taskset", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`autocannon output not JSON: ${String(e)}\n${out.slice(0, 500)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const cpus = availableParallelism();
  if (cpus < 2) throw new Error("bench-workers needs at least 2 CPUs");
  // This process (and so the stores it starts) on CPU 0.
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  say(`${cpus} CPUs, node ${process.version}; this script, redis-server and FerretDB on CPU 0`);
  say(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (other work on the machine skews every figure)`);
  say(`date ${new Date().toISOString()}, checkout ${execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()}`);

  const [mongo, redis] = await Promise.all([startFerretDb(), startRedis()]);
  const storePids = [pidOnPort(redis.port), pidOnPort(Number(new URL(mongo.uri).port))];
  try {
    say(`starting ${placements.length} Tollgates: ${placements.map((p) => p.key).join(", ")}`);
    const started = Date.now();
    const running: Server[] = [];
    for (const placement of placements) running.push(await startTollgate(placement, mongo, redis));
    const first = running[0]!.base;
    await admin(first, "PUT", "/v1/admin/users/bob", { role: "user" });
    await admin(first, "PUT", "/v1/admin/projects/acme-api", { public: false });
    await admin(first, "PUT", "/v1/admin/projects/acme-api/collaborators/bob", { role: "Developer" });
    const { token } = (await (await admin(first, "POST", "/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).json()) as { token: string };
    const body = JSON.stringify({ method: "GET", path: "/api/v1/projects/acme-api/builds", authorization: `Bearer ${token}` });
    for (const server of running) {
      const answer = (await (await fetch(`${server.base}/v1/authorize`, { method: "POST", headers: { "content-type": "application/json" }, body })).json()) as { allow: boolean };
      if (!answer.allow) throw new Error(`${server.placement.key} does not allow the bench request: ${JSON.stringify(answer)}`);
    }
    const wait = started + FIRST_PRUNE_MS - Date.now();
    if (wait > 0) {
      say(`waiting ${Math.ceil(wait / 1000)} s for the first audit prune (30 s after start) to pass before the load`);
      await sleep(wait);
    }

    const results = new Map<string, Result[]>(placements.map((p) => [p.key, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of running) {
        const { placement } = server;
        const url = `${server.base}/v1/authorize`;
        if (WARMUP > 0) await autocannon(placement, url, body, WARMUP);
        const pids = tollgatePids(server);
        const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
        const stores0 = storePids.reduce((s, p) => s + cpuSeconds(p), 0);
        const r = await autocannon(placement, url, body, DURATION);
        const result: Result = {
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors,
          tollgateCpu: pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0,
          storesCpu: storePids.reduce((s, p) => s + cpuSeconds(p), 0) - stores0,
          total: r.requests.total,
        };
        results.get(placement.key)!.push(result);
        say(`round ${round} ${placement.key}: ${fmtInt(result.rps)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, Tollgate ${fmtInt((result.tollgateCpu / Math.max(1, result.total)) * 1e6)} µs CPU/req${result.non2xx || result.errors ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ""}`);
      }
    }

    const baseline = median(results.get("w1-cpu1")?.map((r) => r.rps) ?? []);
    const sharedBaseline = median(results.get("w1-shared")?.map((r) => r.rps) ?? []);
    const rows = placements.map((p) => {
      const rs = results.get(p.key)!;
      const rps = median(rs.map((r) => r.rps));
      const per = (f: (r: Result) => number) => median(rs.map((r) => (f(r) / Math.max(1, r.total)) * 1e6));
      const against = p.key.endsWith("shared") ? sharedBaseline : baseline;
      return [
        `${p.key}: ${p.what}`,
        fmtInt(rps),
        Number.isFinite(against) && against > 0 ? fmtRatio(rps / against) : "–",
        `${median(rs.map((r) => r.p50))} ms`,
        `${median(rs.map((r) => r.p99))} ms`,
        fmtInt(per((r) => r.tollgateCpu)),
        fmtInt(per((r) => r.storesCpu)),
      ];
    });
    const bad = [...results.values()].flat().reduce((n, r) => n + r.non2xx + r.errors, 0);
    process.stdout.write(
      `\nPOST /v1/authorize (allow, warm fact cache, Redis rate limit, audit to FerretDB), ${CONNECTIONS} connections, ${DURATION} s × ${ROUNDS} rounds (medians); ` +
        `ratio: against w1-cpu1 (the -shared rows against w1-shared)\n\n` +
        table(["placement", "req/s", "ratio", "p50", "p99", "Tollgate CPU µs/req", "stores CPU µs/req"], rows) +
        `\n\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`,
    );
    if (bad > 0) throw new Error(`${bad} answers were not 2xx or failed: the figures are not of allowed decisions`);
  } finally {
    await Promise.all(
      servers.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await Promise.race([exited, sleep(15_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }),
    );
    await Promise.allSettled([mongo.stop(), redis.stop()]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-workers: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
