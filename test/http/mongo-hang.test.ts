// A MongoDB hang under /v1/authorize on a real FerretDB stopped with SIGSTOP: every decision is
// answered within TOLLGATE_MONGODB_TIMEOUT_MS with 503 backend_unavailable (fail closed), later
// ones at once (the breaker), and decisions are allowed again once it resumes (SIGCONT).
import { MongoClient } from "mongodb";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../support/fixtures.js";
import { canStartFerretDb, startFerretDb, type MongoServer } from "../support/servers.js";
import { bearer, buildWorld, type World } from "./fixture.js";

const TIMEOUT_MS = 300;

describe.runIf(canStartFerretDb())("MongoDB hangs under /v1/authorize", () => {
  let mongo: MongoServer;
  let world: World;
  let pid: number;

  beforeAll(async () => {
    mongo = await startFerretDb();
    const client = new MongoClient(mongo.uri);
    try {
      pid = (await client.db("admin").command({ serverStatus: 1 })).pid as number;
    } finally {
      await client.close();
    }
    // Cache off: every decision reads its facts from MongoDB.
    world = await buildWorld({ MONGODB_URI: mongo.uri, MONGODB_DB: mongo.dbName, TOLLGATE_CACHE_TTL_MS: "0", TOLLGATE_MONGODB_TIMEOUT_MS: String(TIMEOUT_MS) });
  });

  afterAll(async () => {
    if (pid) process.kill(pid, "SIGCONT");
    await world?.tollgate.backends.close();
    await mongo?.stop();
  });

  it("answers 503 within the bound, then at once, and allows again after it resumes", async () => {
    const authorize = () => request(world.tollgate.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal) });
    expect((await authorize()).body).toMatchObject({ allow: true });

    process.kill(pid, "SIGSTOP");
    let answered = 0;
    let slowest = 0;
    try {
      // Longer than the bound and the breaker's backoff; without them each decision waits for the driver (5 s).
      for (const end = Date.now() + 2_500; Date.now() < end; answered++) {
        const sent = performance.now();
        expect((await authorize()).body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
        slowest = Math.max(slowest, performance.now() - sent);
        await sleep(20);
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(slowest).toBeLessThan(TIMEOUT_MS + 1_500); // generous: a loaded machine; the driver alone waits 5 s
    expect(answered).toBeGreaterThan(10); // most were refused at once, not after the bound

    let body: unknown = null;
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100)) {
      body = (await authorize()).body;
      if ((body as { allow?: boolean }).allow) break;
    }
    expect(body).toMatchObject({ allow: true });
  });
});
