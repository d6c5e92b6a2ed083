// Two Tollgate processes (src/main.ts, as deployed) sharing one FerretDB, then one FerretDB and
// one Redis (where the authorization server's objects and browser sessions then live), with one
// issuer: a browser signs in on one, authorizes there, consents on the other; clients redeem on
// both. Single use holds across processes: of 50 concurrent redemptions of one code exactly one
// gets tokens, and every reuse (concurrent or later) of a code or a rotated refresh token
// revokes the whole family, including tokens the winner was issuing at that moment.
import { spawn, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MongoTokenStore } from "../../src/stores/mongo/token-store.js";
import type { TokenRecord } from "../../src/stores/types.js";
import { freePort, startFerretDb, startRedis, type MongoServer } from "../support/servers.js";
import { authorizePath, Browser, consentForm, demoUpstream, mcpCall, pkce, register, stopDemoUpstream, tokenRequest, REDIRECT_URI, type RegisteredClient } from "./support.js";

const ADMIN = "oauth-processes-admin-token-0123456789";
const JWT_SECRET = "oauth-processes-secret-0123456789-0123456789";
const COOKIE_KEY = "oauth-processes-cookie-key-0123456789-abcdef";
/** Generous: two Tollgates, FerretDB and 50 concurrent token requests on a shared 2-core machine. */
const SLOW = 240_000;

interface Replica {
  child: ChildProcess;
  base: string;
  stderr: string;
}

/** The Redis the processes share, if any: how to point Tollgate at it, and how many OAuth entries it holds. */
interface SharedRedis {
  env: Record<string, string>;
  oauthEntries: (() => Promise<number>) | null;
  stop(): Promise<void>;
}

describeReplicaProcesses("on one FerretDB", async () => ({ env: {}, oauthEntries: null, stop: async () => {} }));
describeReplicaProcesses("on one FerretDB and one Redis", async () => {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  return {
    env: { REDIS_URL: redis.url, TOLLGATE_REDIS_NAMESPACE: "oauth-processes", TOLLGATE_REDIS_TIMEOUT_MS: "2000" },
    oauthEntries: async () => (await client.keys("oauth-processes:oauth:e:*")).length,
    async stop() {
      client.disconnect();
      await redis.stop();
    },
  };
});

function describeReplicaProcesses(name: string, startSharedRedis: () => Promise<SharedRedis>): void {
  describe(`two Tollgate processes ${name}`, () => {
    let mongo: MongoServer;
    let redis: SharedRedis;
    let mongoClient: MongoClient;
    let tokens: MongoTokenStore;
    let a: Replica;
    let b: Replica;

    /** Starts src/main.ts on a free port; `publicUrl` null: its own address is the issuer. */
    async function startReplica(publicUrl: string | null, upstream: string): Promise<Replica> {
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        const replica: Replica = { base, stderr: "", child: undefined as unknown as ChildProcess };
        replica.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
          env: {
            ...process.env,
            TOLLGATE_ENV: "development",
            PORT: String(port),
            MONGODB_URI: mongo.uri,
            MONGODB_DB: mongo.dbName,
            ...redis.env,
            // Not a MongoDB timeout test: on a busy machine a FerretDB read can outlast the 1 s default.
            TOLLGATE_MONGODB_TIMEOUT_MS: "30000",
            TOLLGATE_ADMIN_TOKEN: ADMIN,
            TOLLGATE_JWT_SECRET: JWT_SECRET,
            TOLLGATE_PUBLIC_URL: publicUrl ?? base,
            TOLLGATE_MCP_AUTHORIZATION_SERVERS: publicUrl ?? base,
            TOLLGATE_OAUTH_COOKIE_KEYS: COOKIE_KEY,
            TOLLGATE_OAUTH_REGISTRATIONS_PER_HOUR: "10000",
            TOLLGATE_UPSTREAM_URL: upstream,
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
          if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return replica;
          if (Date.now() > deadline || replica.child.exitCode !== null) throw new Error(`Tollgate did not become ready:\n${replica.stderr}`);
        }
      }
    }

    const admin = (method: string, path: string, body: object) =>
      fetch(`${a.base}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify(body) });

    beforeAll(async () => {
      [mongo, redis] = await Promise.all([startFerretDb(), startSharedRedis()]);
      mongoClient = new MongoClient(mongo.uri);
      tokens = new MongoTokenStore(mongoClient.db(mongo.dbName));
      const upstream = await demoUpstream();
      a = await startReplica(null, upstream);
      b = await startReplica(a.base, upstream);
      // bob (a development sign-in user) is a Developer on the private project "priv".
      expect((await admin("PUT", "/v1/admin/users/bob", { role: "user" })).status).toBe(200);
      expect((await admin("PUT", "/v1/admin/projects/priv", { public: false })).status).toBeLessThan(300);
      expect((await admin("PUT", "/v1/admin/projects/priv/collaborators/bob", { role: "Developer" })).status).toBe(200);
    }, SLOW);

    afterAll(async () => {
      for (const replica of [a, b]) {
        if (!replica || replica.child.exitCode !== null) continue;
        const exited = new Promise((resolve) => replica.child.once("exit", resolve));
        replica.child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 12_000))]);
        if (replica.child.exitCode === null) replica.child.kill("SIGKILL");
      }
      await mongoClient?.close();
      await stopDemoUpstream();
      await Promise.allSettled([mongo?.stop(), redis?.stop()]);
    }, SLOW);

    const resource = () => `${a.base}/api/v1/mcp/projects/priv/mcp`;
    /** The same path and query on another process. */
    const on = (replica: Replica, url: URL): URL => new URL(url.pathname + url.search, replica.base);

    /**
     * A code for a new client: registered on A, bob signs in on B (the development sign-in page;
     * the session is in the shared store), authorizes on B, consents on A, and is sent back on B.
     */
    async function codeAcrossProcesses(): Promise<{ client: RegisteredClient; verifier: string; code: string }> {
      const client = await register(a.base);
      const { verifier, challenge } = pkce();
      const browser = new Browser(b.base);
      const signIn = await browser.post(`${b.base}/ui/login`, { user_id: "bob", return_to: "/ui/tokens" });
      expect(signIn.status, signIn.body).toBe(303);
      const start = await browser.request(`${b.base}${authorizePath({ client_id: client.client_id, resource: resource(), code_challenge: challenge })}`);
      expect(start.status, start.body).toBe(303);
      expect(start.location!.pathname).toBe("/ui/consent");
      const page = await browser.request(on(a, start.location!));
      expect(page.status, page.body).toBe(200);
      const decided = await browser.post(`${a.base}/ui/consent`, { ...consentForm(page.body), decision: "allow", expires_in: String(86_400) });
      expect(decided.status, decided.body).toBe(303);
      const back = await browser.request(on(b, decided.location!));
      expect(back.status, back.body).toBe(303);
      const code = back.location!.searchParams.get("code");
      expect(code, back.location!.href).toBeTruthy();
      return { client, verifier, code: code! };
    }

    const redeem = (replica: Replica, c: { client: RegisteredClient; verifier: string; code: string }) =>
      tokenRequest(replica.base, { grant_type: "authorization_code", code: c.code, redirect_uri: REDIRECT_URI, client_id: c.client.client_id, code_verifier: c.verifier, resource: resource() });
    const refresh = (replica: Replica, client: RegisteredClient, refreshToken: string) =>
      tokenRequest(replica.base, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.client_id });

    /** The MCP token records of the client's access tokens, read from the shared database. */
    const recordsOf = async (client: RegisteredClient): Promise<TokenRecord[]> => (await tokens.listByUser("bob")).filter((r) => r.oauth?.client_id === client.client_id);

    /** Refused on both processes: at once where the revocation happened, within the fact cache's lifetime (5 s) elsewhere. */
    async function expectRefusedEverywhere(accessToken: string): Promise<void> {
      for (const replica of [a, b]) {
        for (const deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 250))) {
          const call = await mcpCall(replica.base, "priv", accessToken);
          if (call.status === 401) break;
          if (Date.now() > deadline) throw new Error(`${replica.base} still answers ${call.status} for a revoked token`);
        }
      }
    }

    it("50 concurrent redemptions of one code, half on each process: exactly one token, 49 invalid_grant, and the reuses revoke it", async () => {
      const c = await codeAcrossProcesses();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => redeem(i % 2 ? b : a, c)));
      const won = results.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      const lost = results.filter((r) => r.status !== 200);
      expect(lost).toHaveLength(49);
      for (const r of lost) expect(r.body).toMatchObject({ error: "invalid_grant" });
      // One token was issued, and the 49 other uses of its code revoked it (RFC 6749 §4.1.2),
      // whether they ran before or after the winner saved it.
      const records = await recordsOf(c.client);
      expect(records).toHaveLength(1);
      expect(records[0]!.revoked_at).not.toBeNull();
      await expectRefusedEverywhere(won[0]!.body.access_token);
      expect((await refresh(a, c.client, won[0]!.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
    }, SLOW);

    it("a second use of a redeemed code, on the other process, is invalid_grant and revokes the tokens issued from it", async () => {
      const c = await codeAcrossProcesses();
      const first = await redeem(a, c);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      for (const replica of [a, b]) expect((await mcpCall(replica.base, "priv", first.body.access_token)).status).toBe(200);
      const again = await redeem(b, c);
      expect(again.body).toMatchObject({ error: "invalid_grant" });
      const records = await recordsOf(c.client);
      expect(records).toHaveLength(1);
      expect(records[0]!.revoked_at).not.toBeNull();
      await expectRefusedEverywhere(first.body.access_token);
      expect((await refresh(b, c.client, first.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
    }, SLOW);

    it("20 concurrent refreshes of one refresh token across the processes: one rotation wins, the reuses revoke the whole family", async () => {
      const c = await codeAcrossProcesses();
      const first = await redeem(b, c);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 ? b : a, c.client, first.body.refresh_token)));
      const won = results.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      for (const r of results.filter((r) => r.status !== 200)) expect(r.body).toMatchObject({ error: "invalid_grant" });
      // Both access tokens (the code's and the rotation's) are revoked, and the rotated refresh token with them.
      const records = await recordsOf(c.client);
      expect(records).toHaveLength(2);
      for (const record of records) expect(record.revoked_at).not.toBeNull();
      for (const accessToken of [first.body.access_token, won[0]!.body.access_token]) await expectRefusedEverywhere(accessToken);
      expect((await refresh(a, c.client, won[0]!.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
    }, SLOW);

    it("a rotated refresh token used again, on the other process, revokes the family: the newest refresh and access tokens too", async () => {
      const c = await codeAcrossProcesses();
      const first = await redeem(a, c);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const rotated = await refresh(a, c.client, first.body.refresh_token);
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      expect((await mcpCall(b.base, "priv", rotated.body.access_token)).status).toBe(200);
      expect((await refresh(b, c.client, first.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
      for (const accessToken of [first.body.access_token, rotated.body.access_token]) await expectRefusedEverywhere(accessToken);
      expect((await refresh(a, c.client, rotated.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
      for (const record of await recordsOf(c.client)) expect(record.revoked_at).not.toBeNull();
    }, SLOW);

    it("keeps the authorization server's objects where docs/oauth.md says: Redis when configured, else MongoDB", async () => {
      const inMongo = await mongoClient.db(mongo.dbName).collection("oauth").countDocuments();
      if (redis.oauthEntries) {
        expect(await redis.oauthEntries()).toBeGreaterThan(0);
        expect(inMongo).toBe(0);
      } else {
        expect(inMongo).toBeGreaterThan(0);
      }
    });
  });
}
