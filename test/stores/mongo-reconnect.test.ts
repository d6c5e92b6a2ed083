// A replica started while MongoDB is unreachable for longer than the driver's server selection:
// the driver closes that topology for good ("Topology is closed"); Tollgate must reconnect once
// MongoDB comes up instead of answering 503 until it is restarted.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { connectBackends, type Backends } from "../../src/server/backends.js";
import { BackendUnavailableError } from "../../src/stores/types.js";
import { canStartFerretDb, freePort, startFerretDb, type MongoServer } from "../support/servers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(canStartFerretDb())("MongoDB unreachable at startup", () => {
  let backends: Backends | undefined;
  let mongo: MongoServer | undefined;
  afterAll(async () => {
    await backends?.close();
    await mongo?.stop();
  });

  it("fact reads recover once MongoDB comes up", async () => {
    const port = await freePort();
    const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }));
    const config = loadConfig({ TOLLGATE_DEMO: "false", MONGODB_URI: `mongodb://127.0.0.1:${port}/`, MONGODB_DB: "reconnect" });
    backends = connectBackends(config, logger);

    // Down for longer than server selection: the first reads fail as unavailable (503).
    await expect(backends.tokens.get("t1")).rejects.toBeInstanceOf(BackendUnavailableError);
    await sleep(1_000);
    await expect(backends.tokens.get("t1")).rejects.toBeInstanceOf(BackendUnavailableError);

    mongo = await startFerretDb(port);
    let last: unknown;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
      try {
        expect(await backends.tokens.get("t1")).toBeNull();
        return;
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`fact reads did not recover within 60 s: ${String((last as Error)?.cause ?? last)}`);
  }, 120_000);
});
