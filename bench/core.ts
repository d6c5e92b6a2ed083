// The decision core's CPU per decision, in one process, without HTTP: DecisionService.decide() on
// the memory stores with the real policy, metrics, audit sink and decision log, as bench/server.ts
// --memory builds it. On a machine shared with other work, process CPU time (not wall time) per
// round is the figure; run two checkouts in turn (BENCH_BASE in scripts/bench-core.sh) and read the ratio.
//
//   node --import tsx bench/core.ts [ROUNDS=5] [N=20000]
//
// TOLLGATE_LOG_LEVEL (default warn) decides whether the decision log line is written; lines go to /dev/null.
import { pino } from "pino";
import { loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/log.js";
import { buildTollgate } from "../src/server/tollgate.js";

/** The same world and request as bench/server.ts (which starts a server when imported). */
const BENCH_PROJECT = "acme-api";
const BENCH_PATH = `/api/v1/projects/${BENCH_PROJECT}/builds`;

const [roundsArg, nArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg ?? 5);
const N = Number(nArg ?? 20_000);
const config = loadConfig({ ...process.env, MONGODB_URI: "", REDIS_URL: "", TOLLGATE_RATE_LIMITS: '{"api":{"default":1000000}}' });
const logger = createLogger(process.env.TOLLGATE_LOG_LEVEL ?? "warn", pino.destination({ dest: "/dev/null", sync: true }));
const tollgate = buildTollgate(config, { logger, watchPolicy: false, defaultMetrics: false, prune: false });
const { directoryStore } = tollgate.facts;
await directoryStore.putUser({ id: "bob", system_role: "user" });
await directoryStore.putProject({ id: BENCH_PROJECT, name: "ACME API", public: false });
await directoryStore.setCollaborator(BENCH_PROJECT, "bob", "Developer");
const { token } = await tollgate.issuer.issue({ type: "global", name: "bench", user_id: "bob", scopes: ["read"] });
const request = { source: "authorize" as const, method: "GET", path: BENCH_PATH, authorization: `Bearer ${token}`, clientAddress: "127.0.0.1", userAgent: "bench" };
const first = await tollgate.decisions.decide(request);
if (!first.decision.allow) throw new Error(`expected an allow, got ${JSON.stringify(first.decision)}`);

const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const perDecision: number[] = [];
for (let round = 0; round <= ROUNDS; round++) {
  const start = cpu();
  for (let i = 0; i < N; i++) await tollgate.decisions.decide(request);
  // Round 0 warms the JIT and the caches up; it is not reported.
  if (round > 0) perDecision.push((cpu() - start) / N);
}
process.stdout.write(`${JSON.stringify({ cpu_us_per_decision: perDecision.map((v) => Number(v.toFixed(2))) })}\n`);
await tollgate.close();
process.exit(0);
