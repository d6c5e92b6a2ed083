// MongoDB (a FerretDB of our own) stops in the middle of a bounded load through the gateway:
// 300 requests over about 3 s with allowed and denied credentials mixed. Nothing the policy
// denies is let through, nothing crashes, decisions that need MongoDB answer 503, and every
// audit record is accounted for: written, queued (bounded) or counted as dropped in /metrics.
import type { Db } from "mongodb";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import { generateToken } from "../../src/tokens/format.js";
import { NOW, bearer, buildTollgateAt, buildWorld } from "../http/fixture.js";
import { canStartFerretDb, startFerretDb, type MongoServer } from "../support/servers.js";
import { send, sleep, startGateway, startUpstream, waitFor, type Gateway, type Sent, type Upstream } from "./helpers.js";

const REQUESTS = 300;
const SPACING_MS = 10;
const STOP_AFTER = 100;
/** At least this many requests that need MongoDB are sent after it stopped (the load goes on until then). */
const MIN_AFTER_STOP = 60;
/** Each request's bound: generous for a loaded machine, below the driver's 30 s server selection. */
const REQUEST_TIMEOUT_MS = 25_000;
const AUDIT_QUEUE_MAX = 20;

describe.runIf(canStartFerretDb())("MongoDB stops during a load through the gateway", () => {
  let mongo: MongoServer;
  let upstream: Upstream;
  let gw: Gateway;
  let closed = false;

  interface Kind {
    name: string;
    path: string;
    credential: () => string | null;
    /** The answer while MongoDB is up. */
    expected: number;
    /** Whether the decision reads MongoDB (then 503 once it is down). */
    needsMongo: boolean;
  }

  let kinds: Kind[] = [];

  beforeAll(async () => {
    [mongo, upstream] = await Promise.all([startFerretDb(), startUpstream()]);
    gw = await startGateway({
      MONGODB_URI: mongo.uri,
      MONGODB_DB: mongo.dbName,
      TOLLGATE_UPSTREAM_URL: upstream.url,
      TOLLGATE_CACHE_TTL_MS: "0", // every decision reads MongoDB
      TOLLGATE_AUDIT_QUEUE_MAX: String(AUDIT_QUEUE_MAX),
      TOLLGATE_RATE_LIMITS: '{"mcp":{"default":1000},"api":{"default":1000}}',
    });
    for (const deadline = Date.now() + 90_000; (await send(gw.url, "/readyz")).status !== 200; ) {
      if (Date.now() > deadline) throw new Error("Tollgate on FerretDB not ready within 90 s");
      await sleep(250);
    }
    const { tollgate, tokens } = gw.world;
    await tollgate.facts.directoryStore.putUser({ id: "dave", system_role: "user" });
    const dave = (await tollgate.issuer.issue({ type: "global", user_id: "dave", scopes: ["read"] })).token;
    const revoked = await tollgate.issuer.issue({ type: "global", user_id: "bob", scopes: ["read"] });
    await tollgate.issuer.revoke(revoked.record.id);
    const unknown = generateToken("global").value;
    const temp = generateToken("temp").value;
    kinds = [
      { name: "bob global token, member", path: "/api/v1/projects/priv/builds", credential: () => tokens.bobGlobal, expected: 200, needsMongo: true },
      { name: "bob MCP token, granted", path: "/api/v1/mcp/projects/priv/builds", credential: () => tokens.bobMcp, expected: 200, needsMongo: true },
      { name: "dave, not a collaborator", path: "/api/v1/projects/priv/builds", credential: () => dave, expected: 403, needsMongo: true },
      { name: "revoked token", path: "/api/v1/projects/priv/builds", credential: () => revoked.token, expected: 401, needsMongo: true },
      { name: "unknown token", path: "/api/v1/projects/priv/builds", credential: () => unknown, expected: 401, needsMongo: true },
      { name: "anonymous, private project", path: "/api/v1/projects/priv/builds", credential: () => null, expected: 401, needsMongo: true },
      { name: "MCP token, no grant", path: "/api/v1/mcp/projects/pub/builds", credential: () => tokens.bobMcp, expected: 403, needsMongo: true },
      { name: "read-only token writes", path: "/api/v1/projects/priv/builds/b1/restart", credential: () => tokens.bobGlobalRead, expected: 403, needsMongo: true },
      { name: "invalid path", path: "/api/v1/projects/pub/../priv/builds", credential: () => tokens.bobGlobal, expected: 400, needsMongo: false },
      // A malformed or temp credential is refused without a lookup; /api/v1/user names no project.
      { name: "temp token as bearer", path: "/api/v1/user", credential: () => temp, expected: 401, needsMongo: false },
    ];
  });

  afterAll(async () => {
    if (!closed) await gw?.close();
    await upstream?.close();
    await mongo?.stop();
  });

  async function metric(name: string, labels = ""): Promise<number> {
    const text = await gw.world.tollgate.metrics.registry.metrics();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}${labels}`) && (line[name.length] === " " || line[name.length] === "{")) sum += Number(line.split(" ").at(-1));
    }
    return sum;
  }

  it("denies what the policy denies, answers 503 where MongoDB is needed, never crashes, and accounts for every audit record", async () => {
    // Every kind answers as expected while MongoDB is up.
    for (const kind of kinds) {
      const c = kind.credential();
      const res = await send(gw.url, kind.path, { headers: c ? { authorization: bearer(c) } : {} });
      expect(res.status, kind.name).toBe(kind.expected);
    }
    const warmup = kinds.length;
    upstream.reset();

    interface Outcome {
      i: number;
      kind: Kind;
      issuedAt: number;
      answeredAt: number;
      res: Sent | null;
      error: string | null;
    }
    const outcomes: Array<Promise<Outcome>> = [];
    let stopping: Promise<void> | null = null;
    let stopStartedAt = Infinity;
    let stoppedAt = Infinity;
    let answered = 0;
    let sentAfterStop = 0;
    for (let i = 0; i < REQUESTS || sentAfterStop < MIN_AFTER_STOP; i++) {
      if (i === STOP_AFTER) {
        // Enough answers from before the stop to judge them, however slow the machine.
        expect(await waitFor(() => answered > STOP_AFTER / 2)).toBe(true);
        stopStartedAt = Date.now();
        stopping = mongo.stop().then(() => {
          stoppedAt = Date.now();
        });
      }
      const kind = kinds[i % kinds.length]!;
      const c = kind.credential();
      const issuedAt = Date.now();
      if (kind.needsMongo && issuedAt > stoppedAt) sentAfterStop++;
      outcomes.push(
        send(gw.url, `${kind.path}${kind.path.includes("..") ? "" : `?i=${i}`}`, { headers: c ? { authorization: bearer(c) } : {}, timeoutMs: REQUEST_TIMEOUT_MS }).then(
          (res) => ({ i, kind, issuedAt, answeredAt: Date.now(), res, error: null }),
          (err: Error) => ({ i, kind, issuedAt, answeredAt: Date.now(), res: null, error: err.message }),
        ).finally(() => answered++),
      );
      await sleep(SPACING_MS);
    }
    await stopping;
    const results = await Promise.all(outcomes);

    // Every request got an answer, none of them a 500.
    expect(results.filter((r) => r.error !== null).map((r) => `${r.kind.name}: ${r.error}`)).toEqual([]);
    for (const r of results) {
      const status = r.res!.status;
      const allowed = r.kind.needsMongo ? [r.kind.expected, 503] : [r.kind.expected];
      expect(allowed, `#${r.i} ${r.kind.name} got ${status}: ${r.res!.body}`).toContain(status);
      if (status === 503) expect(r.res!.json()).toMatchObject({ error: { code: "backend_unavailable", reasons: ["backend_unavailable"] } });
    }

    // Nothing denied reached the upstream; every 200 did, once.
    const allowedIds = new Set(results.filter((r) => r.res!.status === 200).map((r) => r.i));
    const reached = upstream.hits.map((h) => Number(new URL(h.url, "http://x").searchParams.get("i")));
    expect(reached.filter((i) => !allowedIds.has(i))).toEqual([]);
    expect(new Set(reached)).toEqual(allowedIds);
    for (const r of results.filter((x) => x.res!.status === 200)) expect(r.kind.expected, r.kind.name).toBe(200);

    // Before the stop everything answered normally; once MongoDB was gone, what needs it is 503.
    const before = results.filter((r) => r.answeredAt < stopStartedAt);
    expect(before.length).toBeGreaterThan(STOP_AFTER / 2);
    expect(before.filter((r) => r.res!.status !== r.kind.expected).map((r) => `#${r.i} ${r.kind.name}: ${r.res!.status}`)).toEqual([]);
    const after = results.filter((r) => r.issuedAt > stoppedAt && r.kind.needsMongo);
    expect(after.length).toBeGreaterThanOrEqual(MIN_AFTER_STOP);
    expect(after.filter((r) => r.res!.status !== 503).map((r) => `#${r.i} ${r.kind.name}: ${r.res!.status}`)).toEqual([]);

    // Still serving: liveness, readiness reports MongoDB, decisions without MongoDB still work.
    expect((await send(gw.url, "/healthz")).status).toBe(200);
    const ready = await send(gw.url, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.json().checks.mongodb).toMatch(/^unavailable/);
    expect((await send(gw.url, "/api/v1/projects/pub/../priv/builds")).status).toBe(400);
    const total = warmup + results.length + 1; // every gateway request leaves one audit record

    // Audit: nothing lost silently. While MongoDB is down at most the bounded queue (plus one
    // batch in flight) is held; the rest is counted as dropped.
    const written = await metric("tollgate_audit_records_written_total");
    const dropped = await metric("tollgate_audit_records_dropped_total");
    expect(await metric("tollgate_audit_records_dropped_total", '{why="invalid"}')).toBe(0);
    expect(written).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    expect(total - written - dropped).toBeGreaterThanOrEqual(0);
    expect(total - written - dropped).toBeLessThanOrEqual(2 * AUDIT_QUEUE_MAX);
    const metricsText = (await send(gw.url, "/metrics")).body;
    expect(metricsText).toMatch(/^tollgate_audit_records_dropped_total\{why="(queue_full|write_failed)"\} [1-9]\d*$/m);

    // Shutting down with MongoDB still gone: what was held is counted as dropped too.
    closed = true;
    await gw.close();
    let accounted = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
      accounted = (await metric("tollgate_audit_records_written_total")) + (await metric("tollgate_audit_records_dropped_total"));
      if (accounted >= total) break;
    }
    expect(accounted).toBe(total);
  });
});

// What the MongoDB driver (mongodb 7) throws when FerretDB goes away between a command being
// queued and written: a plain Node error, not a MongoError (seen in the load above as a 500).
describe("a MongoDB connection that breaks under a command", () => {
  const socketEnded = (): Error => Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE", syscall: "write" });
  const driverError = (): Error => Object.assign(new Error("connection 3 to 127.0.0.1:27017 closed"), { name: "MongoNetworkError" });

  /** A Mongo token store whose every read fails with `fail()`, as the driver would. */
  function failingTokens(fail: () => Error): MongoTokenStore {
    const collection = new Proxy({}, { get: () => async () => Promise.reject(fail()) });
    return new MongoTokenStore({ collection: () => collection } as unknown as Db);
  }

  it.each([
    ["a driver error (MongoNetworkError)", driverError],
    ["a socket error the driver does not wrap (EPIPE)", socketEnded],
  ])("%s: the decision is 503 backend_unavailable, not 500", async (_name, fail) => {
    const world = await buildWorld({ TOLLGATE_UPSTREAM_URL: "http://127.0.0.1:9" });
    const broken = buildTollgateAt(NOW, { TOLLGATE_UPSTREAM_URL: "http://127.0.0.1:9" }, { ...world.tollgate.backends, tokens: failingTokens(fail) });
    const res = await request(broken.app).get("/api/v1/projects/priv/builds").set("Authorization", bearer(world.tokens.bobGlobal));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: { code: "backend_unavailable" } });
    const decided = await request(broken.app).post("/v1/authorize").send({ method: "GET", path: "/api/v1/projects/priv/builds", authorization: bearer(world.tokens.bobGlobal) });
    expect(decided.body).toMatchObject({ allow: false, status: 503, reasons: ["backend_unavailable"] });
    await world.tollgate.close();
  });
});
