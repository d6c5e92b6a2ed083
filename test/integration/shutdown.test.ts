import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { freePort, startFerretDb, startRedis, type MongoServer } from "../support/servers.js";
import { auditPartitionCollection, listAuditPartitions } from "../../src/audit/mongo/schema.js";

// SIGTERM to a real Tollgate process on FerretDB while the test keeps it busy over keep-alive
// connections, the way a load balancer would until /readyz tells it to stop sending.
const DRAIN_MS = 1_500;
let mongo: MongoServer;
let child: ChildProcess;
let port: number;
let stdout = "";

beforeAll(async () => {
  mongo = await startFerretDb();
}, 120_000);

/** Starts Tollgate on the FerretDB and waits until it is ready. */
async function start(env: Record<string, string>): Promise<void> {
  port = await freePort();
  stdout = "";
  child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      MONGODB_URI: mongo.uri,
      MONGODB_DB: mongo.dbName,
      // Not a MongoDB timeout test (that is test/http/mongo-hang.test.ts): on a busy machine a FerretDB read can outlast the 1 s default.
      TOLLGATE_MONGODB_TIMEOUT_MS: "30000",
      TOLLGATE_ADMIN_TOKEN: "shutdown-admin-token-0123456789abcdef",
      TOLLGATE_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  for (const deadline = Date.now() + 90_000; ; await sleep(250)) {
    if ((await get("/readyz").catch(() => null))?.status === 200) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`Tollgate did not become ready:\n${stdout}`);
  }
}

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await mongo?.stop();
});

/** The process's last log line, with what became of the audit trail. */
function stoppedLine(): Array<{ audit_written: number; audit_dropped: number; audit_unflushed: number }> {
  return stdout
    .split("\n")
    .filter((l) => l.includes('"msg":"stopped"'))
    .map((l) => JSON.parse(l) as { audit_written: number; audit_dropped: number; audit_unflushed: number });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request; rejects with the socket error (ECONNREFUSED, ECONNRESET, "socket hang up"). */
function get(path: string, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);
/**
 * A new connection still in the kernel's accept queue when the port closes is reset, request or
 * not: no server can avoid that, which is why a load balancer must stop opening connections
 * during the drain. Only the probes, which go on like a load balancer's, may meet it.
 */
const PORT_CLOSING = "ECONNRESET";

describe("SIGTERM under keep-alive load", () => {
  it("drains: /readyz 503 draining, no connection reset, every answer audited, exit 0", async () => {
    await start({ TOLLGATE_DRAIN_MS: String(DRAIN_MS) });
    let lbPulled = false;
    const readiness: Array<{ status: number; body: string }> = [];
    const decisionIds: string[] = [];
    const resets: string[] = [];
    let closeAnswers = 0;

    // The load balancer's probe, on a new connection each time, until the port is refused.
    const probe = (async () => {
      for (;;) {
        try {
          const r = await get("/readyz");
          readiness.push({ status: r.status, body: r.body });
          if (r.status === 503) lbPulled = true;
        } catch (err) {
          if (code(err) === "ECONNREFUSED" || (lbPulled && code(err) === PORT_CLOSING)) return;
          resets.push(`probe: ${code(err)}`);
        }
        await sleep(50);
      }
    })();

    // Four keep-alive connections sending gateway requests back to back (401s, each audited).
    // Like a load balancer, a client opens no new connection once the probe has failed.
    const load = Array.from({ length: 4 }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (;;) {
        if (lbPulled && Object.keys(agent.freeSockets).length === 0) break;
        try {
          const r = await get("/api/v1/projects/p/builds", agent);
          expect(r.status).toBe(401);
          decisionIds.push(String(r.headers["x-tollgate-decision-id"]));
          if (r.headers.connection === "close") closeAnswers++;
        } catch (err) {
          resets.push(`load: ${code(err)}`);
          break;
        }
      }
      agent.destroy();
    });

    // A keep-alive connection left idle since before the signal: closed cleanly, not waited on.
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get("/healthz", idle)).status).toBe(200);
    const idleSocket = Object.values(idle.freeSockets)[0]![0]! as Socket;
    const idleErrors: string[] = [];
    idleSocket.on("error", (err) => idleErrors.push(code(err)));
    const idleClosed = once(idleSocket, "close");

    // A request in flight across the end of the drain: headers now, the body once the port is closed.
    const slow = connect(port, "127.0.0.1");
    await once(slow, "connect");
    let slowAnswer = "";
    slow.setEncoding("utf8");
    slow.on("data", (chunk: string) => (slowAnswer += chunk));
    const body = JSON.stringify({ method: "GET", path: "/api/v1/projects/p/builds", authorization: null });
    slow.write(`POST /v1/authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);

    while (decisionIds.length < 40) await sleep(50);
    const exited = once(child, "exit") as Promise<[number | null, string | null]>;
    child.kill("SIGTERM");

    // The port stops accepting once the drain is over; then the slow request completes.
    for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
      const refused = await get("/healthz").then(() => false, (err) => code(err) === "ECONNREFUSED");
      if (refused) break;
      expect(Date.now()).toBeLessThan(deadline);
    }
    slow.write(body.slice(10));
    await once(slow, "end");

    await Promise.all([probe, ...load]);
    const [exitCode] = await exited;
    await idleClosed;
    idle.destroy();

    expect(resets).toEqual([]);
    expect(exitCode).toBe(0);
    expect(idleErrors).toEqual([]);
    expect(readiness.some((r) => r.status === 503 && JSON.parse(r.body).status === "draining")).toBe(true);
    // Served during the drain, each time telling the client the connection ends.
    expect(closeAnswers).toBeGreaterThan(0);
    expect(slowAnswer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close/i);
    const slowId = (JSON.parse(slowAnswer.slice(slowAnswer.indexOf("\r\n\r\n") + 4)) as { decision_id: string }).decision_id;
    expect(slowId).toBeTruthy();

    // Every answered request has its audit record, and the last log line says nothing was lost.
    const client = await MongoClient.connect(mongo.uri);
    try {
      const db = client.db(mongo.dbName);
      const partitions = (await listAuditPartitions(db)).map(auditPartitionCollection);
      const docs = (await Promise.all(partitions.map((name) => db.collection(name).find({}, { projection: { _id: 1 } }).toArray()))).flat();
      const audited = new Set(docs.map((d) => String(d._id)));
      const missing = [...decisionIds, slowId!].filter((id) => !audited.has(id));
      expect(missing).toEqual([]);
    } finally {
      await client.close();
    }
    const stopped = stoppedLine();
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ audit_dropped: 0, audit_unflushed: 0 });
    expect(stopped[0]!.audit_written).toBeGreaterThanOrEqual(decisionIds.length + 1);
  }, 120_000);

  it("with TOLLGATE_WORKERS=2, the primary's SIGTERM drains every worker: the port answers draining, then exit 0", async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    await start({ TOLLGATE_DRAIN_MS: String(DRAIN_MS), TOLLGATE_WORKERS: "2", REDIS_URL: redis.url });
    while (stdout.split('"msg":"tollgate listening"').length < 3) await sleep(100);
    const exited = once(child, "exit") as Promise<[number | null, string | null]>;
    child.kill("SIGTERM");
    const seen: string[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(50)) {
      const r = await get("/readyz").then((a) => `${a.status} ${(JSON.parse(a.body) as { status: string }).status}`, (err) => code(err));
      if (r === "ECONNREFUSED" || (seen.includes("503 draining") && r === PORT_CLOSING)) break;
      seen.push(r);
    }
    const [exitCode] = await exited;
    expect(exitCode, stdout).toBe(0);
    expect(seen).toContain("503 draining");
    expect(seen.filter((r) => r !== "503 draining" && r !== "200 ready")).toEqual([]);
    expect(stoppedLine()).toHaveLength(2);
  }, 120_000);

  it("exits 1 and counts the audit records it could not flush when MongoDB is gone", async () => {
    await start({ TOLLGATE_DRAIN_MS: "0" });
    await mongo.stop();
    // Decided (503 while MongoDB is down, or 401) and audited: records that can no longer be written.
    for (let i = 0; i < 5; i++) expect([401, 503]).toContain((await get("/api/v1/projects/p/builds")).status);
    const exited = once(child, "exit") as Promise<[number | null, string | null]>;
    child.kill("SIGTERM");
    const [exitCode] = await exited;
    expect(exitCode).toBe(1);
    const stopped = stoppedLine();
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!.audit_unflushed).toBeGreaterThanOrEqual(5);
    expect(stopped[0]!.audit_dropped).toBe(stopped[0]!.audit_unflushed);
  }, 120_000);

});
