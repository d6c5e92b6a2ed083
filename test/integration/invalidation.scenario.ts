// Two replicas as separate processes on one FerretDB and one Redis (a redis-server, or a Redis
// Cluster: invalidation.test.ts, invalidation-cluster.test.ts), with a fact cache far longer than
// the test (10 min): a change made on replica A is enforced on replica B only because B applied
// the invalidation A published. The test waits for B's applied-invalidation counter (up to 30 s),
// then asks B; it times nothing.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { CachedFacts } from "../../src/facts/cached-facts.js";
import { MemoryDirectoryStore } from "../../src/stores/memory/directory-store.js";
import { MemoryTokenStore } from "../../src/stores/memory/token-store.js";
import type { RedisClient } from "../../src/stores/redis/client.js";
import { RedisInvalidationBus } from "../../src/stores/redis/invalidation-bus.js";
import { freePort, startFerretDb, type MongoServer } from "../support/servers.js";

/** The Redis the replicas share: how to point Tollgate at it, and a client of our own. */
export interface SharedRedis {
  /** REDIS_URL or TOLLGATE_REDIS_CLUSTER_NODES. */
  env: Record<string, string>;
  client(): RedisClient;
  stop(): Promise<void>;
}

export function describeInvalidationAcrossReplicas(name: string, startSharedRedis: () => Promise<SharedRedis>): void {

  const ADMIN = "invalidation-admin-token-0123456789abcdef";
  const JWT_SECRET = "invalidation-secret-0123456789-0123456789";
  let mongo: MongoServer;
  let redis: SharedRedis;
  const replicas: Array<{ child: ChildProcess; base: string; stderr: string }> = [];

  async function startReplica(): Promise<{ child: ChildProcess; base: string; stderr: string }> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const replica = { base: `http://127.0.0.1:${port}`, stderr: "", child: undefined as unknown as ChildProcess };
      replica.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: {
          ...process.env,
          PORT: String(port),
          MONGODB_URI: mongo.uri,
          MONGODB_DB: mongo.dbName,
          ...redis.env,
          TOLLGATE_REDIS_NAMESPACE: "inv-test",
          TOLLGATE_CACHE_TTL_MS: "600000",
          // Not a timeout test: on a busy machine a Redis call can outlast the 50 ms default.
          TOLLGATE_REDIS_TIMEOUT_MS: "2000",
          // Not a MongoDB timeout test (that is test/http/mongo-hang.test.ts): on a busy machine a FerretDB read can outlast the 1 s default.
          TOLLGATE_MONGODB_TIMEOUT_MS: "30000",
          TOLLGATE_ADMIN_TOKEN: ADMIN,
          TOLLGATE_JWT_SECRET: JWT_SECRET,
          TOLLGATE_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
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

  beforeAll(async () => {
    [mongo, redis] = await Promise.all([startFerretDb(), startSharedRedis()]);
    replicas.push(await startReplica(), await startReplica());
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

  const admin = (base: string, method: string, path: string, body?: object) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  async function authorize(base: string, token: string, path = "/api/v1/projects/p1/builds"): Promise<{ allow: boolean; status: number; reasons: string[] }> {
    const res = await fetch(`${base}/v1/authorize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "GET", path, ...(token ? { authorization: `Bearer ${token}` } : {}) }),
    });
    return (await res.json()) as { allow: boolean; status: number; reasons: string[] };
  }

  /** A sample's value from a replica's /metrics (0 when absent). */
  async function metric(base: string, series: string): Promise<number> {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  }

  async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
    for (const deadline = Date.now() + 30_000; !(await check()); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    }
  }

  const appliedOn = (base: string, kind: string) => metric(base, `tollgate_invalidations_applied_total{kind="${kind}"}`);
  const cacheHits = (base: string, cache: string) => metric(base, `tollgate_cache_lookups_total{cache="${cache}",result="hit"}`);

  describe(`${name}: a change on one replica is enforced on the other once its invalidation arrives`, () => {
    it("token revocation, collaborator removal, role demotion, project made private", async () => {
      const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
      // Both subscribed: B caches (a replica whose bus is down reads the stores every time).
      for (const r of [a, b]) await waitFor("subscription up", async () => (await metric(r.base, "tollgate_invalidation_subscription_up")) === 1);
      // Ready with Redis answering (fail-open would also answer 200 "degraded" without it).
      for (const r of [a, b]) expect(await (await fetch(`${r.base}/readyz`)).json()).toMatchObject({ status: "ready", checks: { redis: "ok", mongodb: "ok" } });

      expect((await admin(a.base, "PUT", "/v1/admin/users/bob", { role: "user" })).status).toBe(200);
      expect((await admin(a.base, "PUT", "/v1/admin/projects/p1", { public: false })).status).toBeLessThan(300);
      expect((await admin(a.base, "PUT", "/v1/admin/projects/p1/collaborators/bob", { role: "Developer" })).status).toBe(200);
      const issue = async () => (await (await admin(a.base, "POST", "/v1/admin/tokens", { type: "global", user_id: "bob", scopes: ["read"] })).json()) as { token: string; id: string };

      // Revocation: B has the token cached (a second decision is a cache hit) …
      const first = await issue();
      expect((await authorize(b.base, first.token)).allow).toBe(true);
      const hits = await cacheHits(b.base, "token");
      expect((await authorize(b.base, first.token)).allow).toBe(true);
      expect(await cacheHits(b.base, "token")).toBeGreaterThan(hits);
      // … A revokes it; once B applied the invalidation, B denies.
      const tokensBefore = await appliedOn(b.base, "token");
      expect((await admin(a.base, "DELETE", `/v1/admin/tokens/${first.id}`)).status).toBeLessThan(300);
      await waitFor("B to apply the token invalidation", async () => (await appliedOn(b.base, "token")) > tokensBefore);
      expect(await authorize(b.base, first.token)).toMatchObject({ allow: false, status: 401 });

      // Collaborator removal: B has the role cached and allows …
      const second = await issue();
      expect((await authorize(b.base, second.token)).allow).toBe(true);
      const collaboratorHits = await cacheHits(b.base, "collaborator");
      expect((await authorize(b.base, second.token)).allow).toBe(true);
      expect(await cacheHits(b.base, "collaborator")).toBeGreaterThan(collaboratorHits);
      // … A removes bob from p1; once B applied it, B denies.
      const collaboratorsBefore = await appliedOn(b.base, "collaborator");
      expect((await admin(a.base, "DELETE", "/v1/admin/projects/p1/collaborators/bob")).status).toBe(204);
      await waitFor("B to apply the collaborator invalidation", async () => (await appliedOn(b.base, "collaborator")) > collaboratorsBefore);
      expect(await authorize(b.base, second.token)).toMatchObject({ allow: false });

      // Role demotion: an admin's session uses the admin API on B until A demotes her.
      expect((await admin(a.base, "PUT", "/v1/admin/users/ada", { role: "admin" })).status).toBe(200);
      const ada = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("ada").setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode(JWT_SECRET));
      const asAda = () => fetch(`${b.base}/v1/admin/tokens/${first.id}`, { headers: { authorization: `Bearer ${ada}` } });
      expect((await asAda()).status).toBe(200);
      expect((await asAda()).status).toBe(200);
      const usersBefore = await appliedOn(b.base, "user");
      expect((await admin(a.base, "PUT", "/v1/admin/users/ada", { role: "user" })).status).toBe(200);
      await waitFor("B to apply the user invalidation", async () => (await appliedOn(b.base, "user")) > usersBefore);
      expect((await asAda()).status).toBe(403);

      // A public project made private: B stops answering anonymous reads.
      expect((await admin(a.base, "PUT", "/v1/admin/projects/p2", { public: true })).status).toBeLessThan(300);
      const anonymous = () => authorize(b.base, "", "/api/v1/projects/p2/builds");
      expect((await anonymous()).allow).toBe(true);
      expect((await anonymous()).allow).toBe(true);
      const projectsBefore = await appliedOn(b.base, "project");
      expect((await admin(a.base, "PUT", "/v1/admin/projects/p2", { public: false })).status).toBe(200);
      await waitFor("B to apply the project invalidation", async () => (await appliedOn(b.base, "project")) > projectsBefore);
      expect((await anonymous()).allow).toBe(false);

      // Nothing was dropped as malformed along the way.
      expect(await metric(b.base, 'tollgate_invalidations_ignored_total{reason="malformed"}')).toBe(0);
    });
  });

  describe(`${name}: a lost subscription is noticed, and recovery clears the cache`, () => {
    it("goes down when its own heartbeats stop arriving, serves from the stores meanwhile, and clears the cache when back", async () => {
      const publisher = redis.client();
      const subscriber = redis.client();
      const bus = new RedisInvalidationBus(publisher, subscriber, { namespace: "loss-test", heartbeatMs: 100 });
      const directory = new MemoryDirectoryStore();
      let reads = 0;
      const getUser = directory.getUser.bind(directory);
      directory.getUser = (id) => (reads++, getUser(id));
      const facts = new CachedFacts(new MemoryTokenStore(), directory, { ttlMs: 600_000, bus });
      const states: string[] = [];
      const next = (state: string) => new Promise<void>((resolve) => bus.onState((s) => s === state && resolve()));
      bus.onState((s) => states.push(s));
      try {
        const up = next("up");
        bus.start();
        await up;
        await facts.directoryStore.putUser({ id: "dora", system_role: "admin" });
        await facts.user("dora");
        await facts.user("dora");
        expect(reads).toBe(1); // cached while subscribed

        // The subscription is lost silently (as on a half-open connection): no heartbeat comes back.
        const down = next("down");
        await subscriber.unsubscribe(bus.channel);
        await down;
        await facts.user("dora");
        await facts.user("dora");
        expect(reads).toBe(3); // degraded (TTL 0): every read goes to the store

        const back = next("up");
        await subscriber.subscribe(bus.channel);
        await back;
        await facts.user("dora");
        await facts.user("dora");
        expect(reads).toBe(4); // cache cleared on recovery, then cached again
        expect(states).toEqual(["up", "down", "up"]);
      } finally {
        await bus.close();
        publisher.disconnect();
      }
    });
  });
}
