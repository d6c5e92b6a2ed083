// The decision core's CPU per decision, in one process, without HTTP: DecisionService.decide() on
// the memory stores with the real policy, metrics, audit sink and decision log, as bench/server.ts
// --memory builds it. Given several checkouts (their src/ is imported from each), it builds one
// Tollgate from each in this one process and takes them in turn, round after round, so that other
// work on a shared machine weighs on each alike; process CPU time (not wall time) per round is the
// figure, and the median of each round's ratio to the first checkout is printed.
//
//   node --import tsx bench/core.ts [ROUNDS=20] [N=5000] [CHECKOUT...]   (default: this checkout)
//
// TOLLGATE_POLICY_DIR names the policy (all checkouts run the same one); TOLLGATE_LOG_LEVEL (default
// warn) decides whether the decision log line is written (to /dev/null).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { pino } from "pino";

const [roundsArg, nArg, ...roots] = process.argv.slice(2);
const ROUNDS = Number(roundsArg ?? 20);
const N = Number(nArg ?? 5_000);
const checkouts = roots.length > 0 ? roots.map((r) => resolve(r)) : [resolve(import.meta.dirname, "..")];

/** The same world and request as bench/server.ts. */
const BENCH_PROJECT = "acme-api";
const BENCH_PATH = `/api/v1/projects/${BENCH_PROJECT}/builds`;

interface Core {
  root: string;
  decide: () => Promise<{ decision: { allow: boolean } }>;
  close: () => Promise<void>;
}

async function build(root: string): Promise<Core> {
  const load = (file: string) => import(pathToFileURL(`${root}/src/${file}`).href);
  const [{ loadConfig }, { createLogger }, { buildTollgate }] = await Promise.all([load("config/config.ts"), load("log.ts"), load("server/tollgate.ts")]);
  const config = loadConfig({ ...process.env, MONGODB_URI: "", REDIS_URL: "", TOLLGATE_RATE_LIMITS: '{"api":{"default":1000000}}' });
  const logger = createLogger(process.env.TOLLGATE_LOG_LEVEL ?? "warn", pino.destination({ dest: "/dev/null", sync: true }));
  const tollgate = buildTollgate(config, { logger, watchPolicy: false, defaultMetrics: false, prune: false });
  const { directoryStore } = tollgate.facts;
  await directoryStore.putUser({ id: "bob", system_role: "user" });
  await directoryStore.putProject({ id: BENCH_PROJECT, name: "ACME API", public: false });
  await directoryStore.setCollaborator(BENCH_PROJECT, "bob", "Developer");
  const { token } = await tollgate.issuer.issue({ type: "global", name: "bench", user_id: "bob", scopes: ["read"] });
  const request = { source: "authorize", method: "GET", path: BENCH_PATH, authorization: `Bearer ${token}`, clientAddress: "127.0.0.1", userAgent: "bench" };
  const decide = () => tollgate.decisions.decide(request);
  const first = await decide();
  if (!first.decision.allow) throw new Error(`${root}: expected an allow, got ${JSON.stringify(first.decision)}`);
  return { root, decide, close: () => tollgate.close() };
}

const cores: Core[] = [];
for (const root of checkouts) cores.push(await build(root));
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const perDecision = cores.map(() => [] as number[]);
for (let round = 0; round <= ROUNDS; round++) {
  // Each round in another order, so no checkout always follows the same one.
  const order = cores.map((_, i) => (i + round) % cores.length);
  for (const i of order) {
    const start = cpu();
    for (let k = 0; k < N; k++) await cores[i]!.decide();
    // Round 0 warms the JIT and the caches up; it is not reported.
    if (round > 0) perDecision[i]!.push((cpu() - start) / N);
  }
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
for (const [i, core] of cores.entries()) {
  const ratios = perDecision[i]!.map((v, r) => v / perDecision[0]![r]!);
  process.stdout.write(
    `${core.root}: median ${median(perDecision[i]!).toFixed(1)} µs CPU per decision over ${ROUNDS} rounds of ${N}` +
      (i > 0 ? `; ÷ ${cores[0]!.root}, median of the rounds' ratios: ${median(ratios).toFixed(3)} (rounds ${ratios.map((x) => x.toFixed(2)).join(" ")})` : "") +
      "\n",
  );
}
for (const core of cores) await core.close();
process.exit(0);
