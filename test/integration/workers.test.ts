// TOLLGATE_WORKERS=2 as separate processes: replica W (a primary and two workers, internal port
// apart) and replica B (one process) that makes every change, on one FerretDB and one
// redis-server, with a fact cache far longer than the test (10 min).
// - /metrics on W's internal port answers for both workers: requests spread over keep-alive
//   connections that the OS shows owned by two different worker processes, and one scrape counts
//   every one of them.
// - A revoke, removal, demotion or made-private on B is enforced by every worker of W once both
//   applied its invalidation: the test waits (up to 30 s) until W's aggregated applied counter
//   is twice what B published, then asks over connections landing on both workers. It times nothing.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startFerretDb, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";

const ADMIN = "workers-admin-token-0123456789abcdef";
const JWT_SECRET = "workers-secret-0123456789-0123456789-xyz";
const CONNECTIONS = 6;
let mongo: MongoServer;
let redis: RedisServer;

interface Replica {
  child: ChildProcess;
  /** Where the decision endpoints, admin API and /metrics are (W: its internal port). */
  base: string;
  stderr: string;
  stdout: string;
}
const replicas: Replica[] = [];

async function startReplica(extra: Record<string, string>, internal: boolean): Promise<Replica> {
  for (let attempt = 1; ; attempt++) {
    const [port, internalPort] = [await freePort(), await freePort()];
    const replica: Replica = { base: `http://127.0.0.1:${internal ? internalPort : port}`, stderr: "", stdout: "", child: undefined as unknown as ChildProcess };
    replica.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        PORT: String(port),
        ...(internal ? { TOLLGATE_INTERNAL_PORT: String(internalPort) } : {}),
        MONGODB_URI: mongo.uri,
        MONGODB_DB: mongo.dbName,
        REDIS_URL: redis.url,
        TOLLGATE_REDIS_NAMESPACE: "workers-test",
        TOLLGATE_CACHE_TTL_MS: "600000",
        TOLLGATE_ADMIN_TOKEN: ADMIN,
        TOLLGATE_JWT_SECRET: JWT_SECRET,
        TOLLGATE_LOG_LEVEL: "warn",
        ...extra,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    replicas.push(replica);
    replica.child.stdout!.on("data", (chunk: Buffer) => (replica.stdout += chunk.toString()));
    replica.child.stderr!.on("data", (chunk: Buffer) => (replica.stderr += chunk.toString()));
    for (const deadline = Date.now() + 90_000; ; await new Promise((r) => setTimeout(r, 250))) {
      if (/EADDRINUSE/i.test(replica.stderr) && attempt < 3) {
        replica.child.kill("SIGKILL");
        break;
      }
      if (await fetch(`${replica.base}/readyz`).then((r) => r.status === 200, () => false)) return replica;
      if (Date.now() > deadline || replica.child.exitCode !== null) throw new Error(`replica did not become ready:\n${replica.stderr}`);
    }
  }
}

let w: Replica;
let b: Replica;
let demo: Replica;
beforeAll(async () => {
  [mongo, redis] = await Promise.all([startFerretDb(), startRedis()]);
  [w, b, demo] = await Promise.all([
    startReplica({ TOLLGATE_WORKERS: "2" }, true),
    startReplica({}, false),
    // Apart (its own database and namespace), with the demo world: seeded and printed by one worker.
    startReplica({ TOLLGATE_WORKERS: "2", TOLLGATE_DEMO: "true", TOLLGATE_LOG_LEVEL: "info", MONGODB_DB: `${mongo.dbName}_demo`, TOLLGATE_REDIS_NAMESPACE: "workers-demo" }, false),
  ]);
  // Both of W's workers listen (/readyz answered by one of them says nothing of the other): new
  // connections land on both.
  await waitFor("both workers to serve", async () => {
    for (const agent of agents) agent.destroy();
    const answers = await Promise.all(agents.map((agent) => send(agent, "GET", "/readyz", {})));
    return new Set((await ownersOf(answers.map((a) => a.localPort))).values()).size === 2;
  }).catch((err: Error) => {
    throw new Error(`${err.message}: workers ${[...workerPids()]}\n${w.stderr}`);
  });
});

afterAll(async () => {
  for (const { child } of replicas) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 12_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  await Promise.allSettled([mongo?.stop(), redis?.stop()]);
});

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 30_000; !(await check()); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
  }
}

/** W's workers: the children of its primary. */
function workerPids(): Set<number> {
  const primary = w.child.pid!;
  const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(primary)], { encoding: "utf8" }).trim();
  return new Set(out ? out.split(/\s+/).map(Number) : []);
}

/**
 * Which process owns the server end of each of these client connections (by the client's local
 * port), as the kernel reports it (`ss -p`). The primary hands each accepted connection over to
 * a worker; only workers are counted.
 */
async function ownersOf(localPorts: number[]): Promise<Map<number, number>> {
  const workers = workerPids();
  const serverPort = new URL(w.base).port;
  const lines = execFileSync("ss", ["-tnpH", "state", "established", `( sport = :${serverPort} )`], { encoding: "utf8" }).split("\n");
  const owners = new Map<number, number>();
  for (const line of lines) {
    const peer = /127\.0\.0\.1:(\d+)\s+users:/.exec(line);
    if (!peer) continue;
    const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).filter((pid) => workers.has(pid));
    if (pids.length === 1 && localPorts.includes(Number(peer[1]))) owners.set(Number(peer[1]), pids[0]!);
  }
  return owners;
}

/** CONNECTIONS keep-alive connections to W, each an agent with one socket. */
const agents = Array.from({ length: CONNECTIONS }, () => new Agent({ keepAlive: true, maxSockets: 1 }));

interface Answer {
  status: number;
  body: { allow?: boolean; status?: number };
  localPort: number;
}
function send(agent: Agent, method: string, path: string, headers: Record<string, string>, body?: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = request(`${w.base}${path}`, { method, agent, headers: { ...headers, ...(payload ? { "content-type": "application/json" } : {}) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as Answer["body"]) : {}, localPort: req.socket!.localPort! }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * `perConnection` requests on every connection (concurrently across connections); returns the
 * answers and checks that the connections they used belong to both workers.
 */
async function overBothWorkers(perConnection: number, one: (agent: Agent) => Promise<Answer>): Promise<Answer[]> {
  const answers = (
    await Promise.all(
      agents.map(async (agent) => {
        const mine: Answer[] = [];
        for (let i = 0; i < perConnection; i++) mine.push(await one(agent));
        return mine;
      }),
    )
  ).flat();
  const owners = await ownersOf([...new Set(answers.map((a) => a.localPort))]);
  expect(new Set(owners.values()).size).toBe(2);
  return answers;
}

const authorize = (token: string | null, path = "/api/v1/projects/p1/builds") => (agent: Agent) =>
  send(agent, "POST", "/v1/authorize", {}, { method: "GET", path, ...(token ? { authorization: `Bearer ${token}` } : {}) });

async function metrics(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}
/** The sum of every sample of this series (all label sets, or the ones matching `labels`). */
function sample(text: string, name: string, labels = ""): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/**
 * An admin request to B. A 503 (FerretDB slower than Tollgate's timeout on a loaded machine; the
 * write was not made) is tried again, a few times.
 */
async function admin(method: string, path: string, body?: object): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${b.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status !== 503 || attempt === 5) return res;
    process.stderr.write(`admin ${method} ${path}: 503 ${await res.text()}; trying again\n`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Every change is made on B (W made only its demo world's, at start): once W's applied counter for
 * the kind (summed over its workers) is twice what B and W published, each worker has applied
 * every change (a worker applies a message once; one that missed it cannot be made up by the
 * other). `published`: wait at least until B counts that many.
 */
async function untilBothWorkersApplied(kind: string, published = 0): Promise<void> {
  await waitFor(`both workers to apply every ${kind} invalidation`, async () => {
    const [onB, onW] = [await metrics(b.base), await metrics(w.base)];
    const fromB = sample(onB, "tollgate_invalidations_published_total", `kind="${kind}"`);
    const fromW = sample(onW, "tollgate_invalidations_published_total", `kind="${kind}"`);
    return fromB >= published && sample(onW, "tollgate_invalidations_applied_total", `kind="${kind}"`) === 2 * (fromB + fromW);
  });
}
async function changeOnB(kind: string, change: () => Promise<Response>, expectedStatus: number): Promise<void> {
  await untilBothWorkersApplied(kind);
  const before = sample(await metrics(b.base), "tollgate_invalidations_published_total", `kind="${kind}"`);
  expect((await change()).status).toBe(expectedStatus);
  await untilBothWorkersApplied(kind, before + 1);
}

describe("TOLLGATE_WORKERS=2", () => {
  it("one scrape of /metrics on the internal port counts the requests of both workers", async () => {
    const count = (text: string) => sample(text, "tollgate_decisions_total");
    const scraped = await metrics(w.base);
    const [before, durationsBefore] = [count(scraped), sample(scraped, "tollgate_decision_duration_seconds_count")];
    const answers = await overBothWorkers(5, authorize(null, "/api/v1/projects/nowhere/builds"));
    expect(answers.every((a) => a.status === 200 && a.body.allow === false)).toBe(true);
    const text = await metrics(w.base);
    expect(count(text) - before).toBe(answers.length);
    expect(sample(text, "tollgate_decision_duration_seconds_count") - durationsBefore).toBe(answers.length);
    expect(text.split("\n").filter((l) => l.startsWith("tollgate_build_info{"))).toHaveLength(1);
    // The aggregate is the minimum over the workers: 1 once each has heard its own heartbeat. A
    // worker that missed three (a busy machine) is down until the next one: wait, bounded.
    let up = sample(text, "tollgate_invalidation_subscription_up");
    for (const deadline = Date.now() + 30_000; up !== 1 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      up = sample(await metrics(w.base), "tollgate_invalidation_subscription_up");
    }
    expect(up).toBe(1);
  });

  it("a revoke, a collaborator removal, a demotion and a project made private on another replica are enforced by every worker", async () => {
    expect((await admin("PUT", "/v1/admin/users/bob", { role: "user" })).status).toBe(200);
    expect((await admin("PUT", "/v1/admin/projects/p1", { public: false })).status).toBeLessThan(300);
    expect((await admin("PUT", "/v1/admin/projects/p1/collaborators/bob", { role: "Developer" })).status).toBe(200);
    const issue = async () => (await (await admin("POST", "/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).json()) as { token: string; id: string };
    await untilBothWorkersApplied("collaborator", 1);

    // Revocation: both workers allow (and have the token cached) …
    const first = await issue();
    expect((await overBothWorkers(2, authorize(first.token))).every((a) => a.body.allow === true)).toBe(true);
    // … B revokes it; every next request on either worker is a 401.
    await changeOnB("token", () => admin("DELETE", `/v1/admin/tokens/${first.id}`), 200);
    expect((await overBothWorkers(5, authorize(first.token))).map((a) => a.body)).toEqual(Array(CONNECTIONS * 5).fill(expect.objectContaining({ allow: false, status: 401 })));

    // Collaborator removal.
    const second = await issue();
    expect((await overBothWorkers(2, authorize(second.token))).every((a) => a.body.allow === true)).toBe(true);
    await changeOnB("collaborator", () => admin("DELETE", "/v1/admin/projects/p1/collaborators/bob"), 204);
    expect((await overBothWorkers(5, authorize(second.token))).every((a) => a.body.allow === false)).toBe(true);

    // Role demotion: an admin session uses W's admin API on both workers until B demotes her.
    expect((await admin("PUT", "/v1/admin/users/ada", { role: "admin" })).status).toBe(200);
    await untilBothWorkersApplied("user", 2);
    const ada = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("ada").setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
    const asAda = (agent: Agent) => send(agent, "GET", `/v1/admin/tokens/${first.id}`, { authorization: `Bearer ${ada}` });
    expect((await overBothWorkers(2, asAda)).map((a) => a.status)).toEqual(Array(CONNECTIONS * 2).fill(200));
    await changeOnB("user", () => admin("PUT", "/v1/admin/users/ada", { role: "user" }), 200);
    // One request per connection: ten refused admin authentications from one address in a minute are a 429.
    expect((await overBothWorkers(1, asAda)).map((a) => a.status)).toEqual(Array(CONNECTIONS).fill(403));

    // A public project made private: anonymous reads stop on both workers.
    expect((await admin("PUT", "/v1/admin/projects/p2", { public: true })).status).toBeLessThan(300);
    await untilBothWorkersApplied("project", 2);
    const anonymous = authorize(null, "/api/v1/projects/p2/builds");
    expect((await overBothWorkers(2, anonymous)).every((a) => a.body.allow === true)).toBe(true);
    await changeOnB("project", () => admin("PUT", "/v1/admin/projects/p2", { public: false }), 200);
    expect((await overBothWorkers(5, anonymous)).every((a) => a.body.allow === false)).toBe(true);

    expect(sample(await metrics(w.base), "tollgate_invalidations_ignored_total")).toBe(0);
  });

  it("seeds the demo world once, in one worker", async () => {
    // Both of its workers have listened by the time two listening lines are logged.
    await waitFor("both demo workers to listen", async () => (demo.stdout.match(/"msg":"tollgate listening"/g) ?? []).length >= 2);
    expect(demo.stdout.match(/^Demo data/gm)).toHaveLength(1);
  });
});
