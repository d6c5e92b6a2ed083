import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startFerretDb, startRedis, type MongoServer, type RedisServer } from "../support/servers.js";

// TOLLGATE_WORKERS=2: the primary forks two workers sharing the port; state lives in MongoDB
// and Redis, so a token issued through one worker is honoured by whichever answers next.
const ADMIN = "cluster-admin-token-0123456789abcdef";
let mongo: MongoServer;
let redis: RedisServer;
let child: ChildProcess;
let base: string;
let stderr = "";

beforeAll(async () => {
  [mongo, redis] = await Promise.all([startFerretDb(), startRedis()]);
  // The port may be taken between freePort() and the workers' listen (another test run on this
  // machine): the workers then fail to listen and are restarted forever, so try another port.
  for (let attempt = 1; !(await startOnFreePort()); attempt++) {
    child.kill("SIGKILL");
    if (attempt === 3) throw new Error(`Tollgate with two workers found no free port:\n${stderr}`);
  }
});

/** Resolves true once Tollgate answers ready, false if its port was taken; throws on anything else. */
async function startOnFreePort(): Promise<boolean> {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  stderr = "";
  child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      TOLLGATE_WORKERS: "2",
      MONGODB_URI: mongo.uri,
      MONGODB_DB: mongo.dbName,
      REDIS_URL: redis.url,
      // Not a MongoDB timeout test (that is test/http/mongo-hang.test.ts): on a busy machine a FerretDB read can outlast the 1 s default.
      TOLLGATE_MONGODB_TIMEOUT_MS: "30000",
      // Nor a Redis one: an admin request's failure count can outlast the 50 ms default (503, fail closed).
      TOLLGATE_REDIS_TIMEOUT_MS: "2000",
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      TOLLGATE_JWT_SECRET: "cluster-secret-0123456789-0123456789-xyz",
      TOLLGATE_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  for (const deadline = Date.now() + 90_000; ; await new Promise((r) => setTimeout(r, 250))) {
    if (/EADDRINUSE|address already in use/i.test(stderr)) return false;
    if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return true;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`Tollgate with two workers did not become ready:\n${stderr}`);
  }
}

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 12_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  await Promise.allSettled([mongo?.stop(), redis?.stop()]);
});

const admin = (method: string, path: string, body?: object) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe("two workers behind one port", () => {
  it("answers consistently from shared state, and stops cleanly on SIGTERM", async () => {
    expect((await admin("PUT", "/v1/admin/users/bob", { role: "user" })).status).toBe(200);
    expect((await admin("PUT", "/v1/admin/projects/p1", { public: false })).status).toBeLessThan(300);
    expect((await admin("PUT", "/v1/admin/projects/p1/collaborators/bob", { role: "Developer" })).status).toBe(200);
    const created = (await (await admin("POST", "/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).json()) as { token: string };
    // Many requests on fresh connections spread over both workers; every one sees the token.
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(`${base}/v1/authorize`, {
          method: "POST",
          headers: { "content-type": "application/json", connection: "close" },
          body: JSON.stringify({ method: "GET", path: "/api/v1/projects/p1/builds", authorization: `Bearer ${created.token}` }),
        }).then((r) => r.json() as Promise<{ allow: boolean }>),
      ),
    );
    expect(results.every((r) => r.allow)).toBe(true);

    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
