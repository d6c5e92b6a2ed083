// `make bench-replicas`: how long after a change on replica A every other replica enforces it.
// Starts redis-server and FerretDB (SQLite) on free loopback ports, then BENCH_REPLICAS Tollgates
// (separate processes, fact cache TTL 10 min, so only the invalidation bus can make them see a
// change) and makes BENCH_CHANGES changes of each kind on replica A: token revoke, collaborator
// removal, role demotion (admin → user), project made private. Before each change every other
// replica has the old fact cached (it allowed the request twice); after A's write answered, each
// other replica is asked the affected request in a tight loop (one request at a time per replica)
// until it denies. The lag of a change is the time from A's answer to the last replica's first
// denial. A change not enforced within GIVE_UP_MS counts as a timeout (reported, excluded from the
// percentiles); a 503 is not a denial; the request is asked once more after the denial, and an
// allow then is reported ("allowed again": the change did not hold). Everything it starts is stopped and removed on exit.
//   BENCH_CHANGES=500   changes of each kind
//   BENCH_REPLICAS=2    replicas (2 or 3)
import { spawn, type ChildProcess } from "node:child_process";
import { loadavg, cpus } from "node:os";
import { SignJWT } from "jose";
import { freePort, startFerretDb, startRedis, type MongoServer, type RedisServer } from "../test/support/servers.js";
import { adminRequest } from "./admin.js";
import { summarize, table } from "./stats.js";

const CHANGES = Number(process.env.BENCH_CHANGES ?? 500);
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 2);
const GIVE_UP_MS = 10_000;
const STARTUP_MS = 90_000;
const ADMIN = "bench-replicas-admin-token-0123456789abcdef";
const JWT_SECRET = "bench-replicas-secret-0123456789-0123456789";
const TARGET_P99_MS = 100;

if (!Number.isInteger(CHANGES) || CHANGES < 1 || CHANGES > 100_000) throw new Error(`BENCH_CHANGES must be 1..100000, got ${process.env.BENCH_CHANGES}`);
if (!Number.isInteger(REPLICAS) || REPLICAS < 2 || REPLICAS > 3) throw new Error(`BENCH_REPLICAS must be 2 or 3, got ${process.env.BENCH_REPLICAS}`);

interface Replica {
  child: ChildProcess;
  base: string;
  output: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`==> ${line}\n`);

async function startReplica(mongo: MongoServer, redis: RedisServer): Promise<Replica> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        MONGODB_URI: mongo.uri,
        MONGODB_DB: mongo.dbName,
        REDIS_URL: redis.url,
        TOLLGATE_REDIS_NAMESPACE: "bench-replicas",
        TOLLGATE_CACHE_TTL_MS: "600000",
        TOLLGATE_RATE_LIMITS: '{"api":{"default":1000000}}',
        TOLLGATE_TRUSTED_PROXIES: "127.0.0.1",
        TOLLGATE_ADMIN_TOKEN: ADMIN,
        TOLLGATE_JWT_SECRET: JWT_SECRET,
        TOLLGATE_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const replica: Replica = { child, base: `http://127.0.0.1:${port}`, output: "" };
    child.stderr!.on("data", (chunk: Buffer) => (replica.output = (replica.output + chunk.toString()).slice(-8_192)));
    replicas.push(replica);
    for (const deadline = Date.now() + STARTUP_MS; ; await sleep(200)) {
      if (/EADDRINUSE/i.test(replica.output) && attempt < 3) {
        child.kill("SIGKILL");
        break;
      }
      if (await fetch(`${replica.base}/readyz`).then((r) => r.status === 200, () => false)) return replica;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`replica did not become ready:\n${replica.output}`);
    }
  }
}

const replicas: Replica[] = [];
// Replicas die with this process, whatever ends it (servers.ts does the same for Redis and FerretDB).
process.on("exit", () => replicas.forEach((r) => r.child.kill("SIGKILL")));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

async function stopReplicas(): Promise<void> {
  await Promise.all(
    replicas.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(12_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }),
  );
}

/** An admin write on A, retried on 503. */
const admin = (base: string, method: string, path: string, body?: object): Promise<Response> => adminRequest(base, ADMIN, method, path, body, say);

/**
 * Whether the replica allows, or null when it could not decide (503: a backend was slow or down).
 * A 503 is not enforcement: counting it as a denial would shorten the lag.
 */
async function authorize(base: string, token: string, path: string): Promise<boolean | null> {
  const res = await fetch(`${base}/v1/authorize`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ method: "GET", path, ...(token ? { authorization: `Bearer ${token}` } : {}) }),
  });
  const body = (await res.json()) as { allow: boolean; status: number };
  return body.status === 503 ? null : body.allow;
}

/** Polls `check` until it is true (a fresh fact reached that replica), or throws. */
async function until(what: string, check: () => Promise<boolean | null>): Promise<void> {
  for (const deadline = Date.now() + GIVE_UP_MS * 3; (await check()) !== true; await sleep(5)) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
  }
}

/**
 * One kind of change. `prepare` restores the allowing state through A and waits until every
 * other replica allows (twice: the second answer comes from its cache); `change` makes the change
 * on A; `allowed(base)` is the affected request on a replica.
 */
interface Kind {
  name: string;
  prepare(): Promise<void>;
  change(): Promise<void>;
  /** true: allowed, false: denied, null: could not decide (503). */
  allowed(base: string): Promise<boolean | null>;
}

interface Sample {
  /** ms from A's answer to the moment the last other replica denied; Infinity if one never did within GIVE_UP_MS. */
  lag: number;
  /** ms the denying request itself took on that replica (part of the lag: it reads the changed fact from the store). */
  denial: number;
  /** The same request, asked again right after the denial, was allowed (the change did not hold). */
  reverted: boolean;
}

async function measure(kind: Kind): Promise<Sample> {
  const others = replicas.slice(1);
  await kind.prepare();
  for (const r of others) {
    await until(`${kind.name}: replica ${r.base} to allow before the change`, () => kind.allowed(r.base));
    if ((await kind.allowed(r.base)) === false) throw new Error(`${kind.name}: ${r.base} allowed once, then denied before the change`);
  }
  await kind.change();
  const t0 = performance.now();
  const samples = await Promise.all(
    others.map(async (r): Promise<Sample> => {
      for (;;) {
        const sent = performance.now();
        if ((await kind.allowed(r.base)) === false) {
          const lag = performance.now() - t0;
          const denial = performance.now() - sent;
          return { lag, denial, reverted: (await kind.allowed(r.base)) === true };
        }
        if (performance.now() - t0 > GIVE_UP_MS) return { lag: Infinity, denial: NaN, reverted: false };
      }
    }),
  );
  const worst = samples.reduce((w, s) => (s.lag > w.lag ? s : w));
  return { ...worst, reverted: samples.some((s) => s.reverted) };
}

async function main(): Promise<void> {
  say(`${cpus().length} cores, node ${process.version}, load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  say(`starting redis-server, FerretDB and ${REPLICAS} Tollgate replicas (cache TTL 10 min) on loopback`);
  const [mongo, redis] = await Promise.all([startFerretDb(), startRedis()]);
  try {
    for (let i = 0; i < REPLICAS; i++) await startReplica(mongo, redis);
    const a = replicas[0]!.base;
    for (const r of replicas) {
      await until("subscription up", async () => /\ntollgate_invalidation_subscription_up 1\b/.test(await (await fetch(`${r.base}/metrics`)).text()));
    }

    // Facts the kinds start from: bob (user) joins and leaves p1 (private); p2 flips public/private; bob stays
    // on p3 (tokens to revoke read it); ada flips admin/user.
    await admin(a, "PUT", "/v1/admin/users/bob", { role: "user" });
    await admin(a, "PUT", "/v1/admin/projects/p1", { public: false });
    await admin(a, "PUT", "/v1/admin/projects/p2", { public: false });
    await admin(a, "PUT", "/v1/admin/projects/p3", { public: false });
    await admin(a, "PUT", "/v1/admin/projects/p3/collaborators/bob", { role: "Developer" });
    const issue = async () =>
      (await (await admin(a, "POST", "/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).json()) as { token: string; id: string };
    const collaborator = await issue();
    const ada = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("ada").setIssuedAt().setExpirationTime("2h").sign(new TextEncoder().encode(JWT_SECRET));
    let revoked = { token: "", id: "" };
    let adaProbes = 0;

    const kinds: Kind[] = [
      {
        name: "token revoke",
        prepare: async () => void (revoked = await issue()),
        change: async () => void (await admin(a, "DELETE", `/v1/admin/tokens/${revoked.id}`)),
        allowed: (base) => authorize(base, revoked.token, "/api/v1/projects/p3/builds"),
      },
      {
        name: "collaborator removal",
        prepare: async () => void (await admin(a, "PUT", "/v1/admin/projects/p1/collaborators/bob", { role: "Developer" })),
        change: async () => void (await admin(a, "DELETE", "/v1/admin/projects/p1/collaborators/bob")),
        allowed: (base) => authorize(base, collaborator.token, "/api/v1/projects/p1/builds"),
      },
      {
        name: "role demotion",
        prepare: async () => void (await admin(a, "PUT", "/v1/admin/users/ada", { role: "admin" })),
        change: async () => void (await admin(a, "PUT", "/v1/admin/users/ada", { role: "user" })),
        allowed: async (base) => {
          // Each denial counts as a failed admin authentication for the client address (10 a minute, then 429):
          // every probe comes "through the proxy" from an address of its own.
          const n = ++adaProbes;
          const forwardedFor = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
          const res = await fetch(`${base}/v1/admin/tokens/${collaborator.id}`, { headers: { authorization: `Bearer ${ada}`, "x-forwarded-for": forwardedFor } });
          await res.arrayBuffer();
          return res.status === 503 ? null : res.status === 200;
        },
      },
      {
        name: "project made private",
        prepare: async () => void (await admin(a, "PUT", "/v1/admin/projects/p2", { public: true })),
        change: async () => void (await admin(a, "PUT", "/v1/admin/projects/p2", { public: false })),
        allowed: (base) => authorize(base, "", "/api/v1/projects/p2/builds"),
      },
    ];

    // The kinds interleave (one change of each in turn), so slow spells on the shared machine weigh on all alike.
    const lags = new Map(kinds.map((k) => [k.name, [] as Sample[]]));
    const started = performance.now();
    say(`${CHANGES} changes of each kind, made on replica A, enforced on ${REPLICAS - 1} other replica(s)`);
    for (let i = 0; i < CHANGES; i++) {
      for (const kind of kinds) lags.get(kind.name)!.push(await measure(kind));
      if ((i + 1) % 50 === 0) say(`${i + 1}/${CHANGES} (load average ${loadavg()[0]!.toFixed(2)})`);
    }
    const loadAfter = loadavg();

    const row = (name: string, samples: Sample[]) => {
      const done = samples.filter((x) => Number.isFinite(x.lag));
      const s = summarize(done.map((x) => x.lag));
      const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
      const reverted = samples.filter((x) => x.reverted).length;
      const ok = s.p99 <= TARGET_P99_MS && done.length === samples.length && reverted === 0;
      return [name, String(samples.length), String(samples.length - done.length), String(reverted), f(s.p50), f(s.p99), f(s.max), f(summarize(done.map((x) => x.denial)).p50), ok ? "yes" : "no"];
    };
    const all = [...lags.values()].flat();
    console.log(
      table(
        ["change (A → others)", "changes", "timeouts", "allowed again", "p50 ms", "p99 ms", "max ms", "denying request p50 ms", `p99 ≤ ${TARGET_P99_MS} ms`],
        [...[...lags].map(([name, samples]) => row(name, samples)), row("all", all)],
      ),
    );
    console.log(
      `\n${REPLICAS} replicas, ${all.length} changes in ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
        `load average after: ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`,
    );
  } finally {
    await stopReplicas();
    await Promise.allSettled([mongo.stop(), redis.stop()]);
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    process.stderr.write(`bench-replicas: ${e instanceof Error ? e.message : String(e)}\n`);
    for (const r of replicas) if (r.output) process.stderr.write(`--- ${r.base}\n${r.output.slice(-2_000)}\n`);
    await stopReplicas();
    process.exit(1);
  },
);
