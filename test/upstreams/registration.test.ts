// Registration with an upstream's authorization server (RFC 7591/7592) against a real oidc-provider
// with registration enabled, replicas sharing a real redis-server: three replicas starting
// together register once; invalid_client is renewed by an update while the server knows the
// client, by a new registration (and a reconnect hook) when it does not; near expiry against a
// stub registration endpoint (oidc-provider always answers client_secret_expires_at: 0).
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisDcrCredentialStore } from "../../src/stores/redis/dcr-credential-store.js";
import { MemoryDcrCredentialStore } from "../../src/stores/memory/dcr-credential-store.js";
import type { DcrKey } from "../../src/upstreams/dcr-credentials.js";
import { discoverUpstreamAuth, type UpstreamAuthMetadata } from "../../src/upstreams/discovery.js";
import { AesGcmSecretCipher } from "../../src/upstreams/encryption.js";
import { MemoryLocks, RedisLocks } from "../../src/upstreams/locks.js";
import { UpstreamRegistrar, type ReregisteredHook } from "../../src/upstreams/registration.js";
import { scopesHash } from "../../src/upstreams/scopes-hash.js";
import { listen, stopServer } from "../gateway/helpers.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, UPSTREAM_SCOPE, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";

/** The test servers are plain http on loopback: allowed outside production only. */
const LOOPBACK = { plainLoopback: true };

let as: UpstreamAs;
let mcp: UpstreamMcp;
let redis: RedisServer;
let metadata: UpstreamAuthMetadata;
const clients: Redis[] = [];
const cipher = new AesGcmSecretCipher([{ kid: "k1", key: randomBytes(32) }]);

beforeAll(async () => {
  [as, redis] = await Promise.all([startUpstreamAs(), startRedis()]);
  mcp = await startUpstreamMcp(as);
  metadata = await discoverUpstreamAuth(mcp.url, LOOPBACK);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await mcp?.close();
  await as?.close();
  await redis?.stop();
});

let keyCount = 0;
/** A key of its own per test, so tests share nothing stored. */
function newKey(issuer = as.issuer): DcrKey {
  return { issuer, redirectUri: `http://127.0.0.1:9/oauth/upstream/t${++keyCount}/callback`, scopesHash: scopesHash([UPSTREAM_SCOPE]) };
}

/** One replica: its own Redis connection, store, locks and registrar. */
function replica(namespace: string, onReregistered: ReregisteredHook = async () => undefined): UpstreamRegistrar {
  const client = new Redis(redis.url);
  clients.push(client);
  return new UpstreamRegistrar({ store: new RedisDcrCredentialStore(client, cipher, { namespace }), locks: new RedisLocks(client, { namespace }), clientName: "Tollgate", onReregistered });
}

describe("UpstreamRegistrar against oidc-provider", () => {
  it("three replicas starting together register exactly once and all use that registration", async () => {
    const before = as.registrations();
    const key = newKey();
    const replicas = [replica("reg3"), replica("reg3"), replica("reg3")];
    const got = await Promise.all(replicas.map((r) => r.credentials({ metadata, key, scopes: [UPSTREAM_SCOPE] })));
    expect(as.registrations() - before).toBe(1);
    expect(new Set(got.map((c) => c.clientId)).size).toBe(1);
    expect(got[0]).toMatchObject({ key, tokenEndpoint: metadata.tokenEndpoint, authorizationEndpoint: metadata.authorizationEndpoint, tokenEndpointAuthMethod: "client_secret_basic" });
    expect(got[0]!.clientSecret).toBeTruthy();
    expect(got[0]!.registrationClientUri).toMatch(new RegExp(`^${as.issuer}/reg/`));
    // A replica started later (a restart) finds it in Redis.
    const later = await replica("reg3").credentials({ metadata, key, scopes: [UPSTREAM_SCOPE] });
    expect(later.clientId).toBe(got[0]!.clientId);
    expect(as.registrations() - before).toBe(1);
  });

  it("invalid_client while the server still knows the client: an RFC 7592 update keeps the client_id", async () => {
    const hook: Parameters<ReregisteredHook>[0][] = [];
    const r = replica("upd", async (e) => void hook.push(e));
    const target = { metadata, key: newKey(), scopes: [UPSTREAM_SCOPE] };
    const first = await r.credentials(target);
    const [regs, updates] = [as.registrations(), as.updates()];
    const renewed = await r.afterInvalidClient(target, first);
    expect(renewed.clientId).toBe(first.clientId);
    expect(as.updates() - updates).toBe(1);
    expect(as.registrations() - regs).toBe(0);
    // The rotated registration access token is the one kept.
    expect(renewed.registrationAccessToken).not.toBe(first.registrationAccessToken);
    expect(hook).toEqual([]);
  });

  it("invalid_client after the server dropped the client: a new registration, once across replicas, and the reconnect hook", async () => {
    const hook: Parameters<ReregisteredHook>[0][] = [];
    const replicas = [0, 1, 2].map(() => replica("drop", async (e) => void hook.push(e)));
    const target = { metadata, key: newKey(), scopes: [UPSTREAM_SCOPE] };
    const first = await replicas[0]!.credentials(target);
    await as.deleteClient(first.clientId);
    const regs = as.registrations();
    const renewed = await Promise.all(replicas.map((r) => r.afterInvalidClient(target, first)));
    expect(as.registrations() - regs).toBe(1);
    expect(new Set(renewed.map((c) => c.clientId)).size).toBe(1);
    expect(renewed[0]!.clientId).not.toBe(first.clientId);
    expect(hook).toEqual([{ key: target.key, previousClientId: first.clientId, clientId: renewed[0]!.clientId }]);
  });
});

describe("UpstreamRegistrar against a stub registration endpoint", () => {
  /** A registration endpoint whose secrets expire `expiresInS` after issue; with or without RFC 7592 management. */
  async function stubAs(management: boolean, expiresInS: number, clientUriBase?: () => string) {
    const seen: Array<{ method: string; url: string; auth?: string; body: Record<string, unknown> }> = [];
    let n = 0;
    let base = "";
    const readBody = async (req: IncomingMessage) => JSON.parse(Buffer.concat(await req.toArray()).toString() || "{}") as Record<string, unknown>;
    const server = createServer((req, res) => {
      void readBody(req).then((body) => {
        seen.push({ method: req.method!, url: req.url!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body });
        const clientId = req.method === "PUT" ? String(body.client_id) : `client-${++n}`;
        const answer = {
          ...body,
          client_id: clientId,
          client_secret: `secret-${seen.length}`,
          client_secret_expires_at: Math.floor(Date.now() / 1000) + expiresInS,
          ...(management ? { registration_access_token: `rat-${seen.length}`, registration_client_uri: `${clientUriBase?.() ?? base}/reg/${clientId}` } : {}),
        };
        res.writeHead(req.method === "PUT" ? 200 : 201, { "content-type": "application/json" }).end(JSON.stringify(answer));
      });
    });
    base = await listen(server);
    const meta: UpstreamAuthMetadata = { resource: "http://127.0.0.1:9/", issuer: base, authorizationEndpoint: `${base}/auth`, tokenEndpoint: `${base}/token`, registrationEndpoint: `${base}/reg`, issParameterSupported: true, offlineAccess: false };
    return { seen, meta, close: () => stopServer(server) };
  }

  it("a secret near expiry is renewed by an update with the registration access token; one far from expiry is used as is", async () => {
    const stub = await stubAs(true, 120);
    try {
      const r = new UpstreamRegistrar({ store: new MemoryDcrCredentialStore(), locks: new MemoryLocks(), clientName: "Tollgate", onReregistered: async () => expect.fail("no re-registration") });
      const target = { metadata: stub.meta, key: newKey(stub.meta.issuer), scopes: [] };
      const first = await r.credentials(target);
      expect(first).toMatchObject({ clientId: "client-1", clientSecret: "secret-1" });
      const second = await r.credentials(target);
      expect(second).toMatchObject({ clientId: "client-1", clientSecret: "secret-2", registrationAccessToken: "rat-2" });
      expect(stub.seen[1]).toMatchObject({ method: "PUT", url: "/reg/client-1", auth: "Bearer rat-1", body: { client_id: "client-1", redirect_uris: [target.key.redirectUri] } });
      expect(second.createdAt).toBe(first.createdAt);
    } finally {
      await stub.close();
    }
    const far = await stubAs(true, 3600);
    try {
      const r = new UpstreamRegistrar({ store: new MemoryDcrCredentialStore(), locks: new MemoryLocks(), clientName: "Tollgate", onReregistered: async () => undefined });
      const target = { metadata: far.meta, key: newKey(far.meta.issuer), scopes: [] };
      await r.credentials(target);
      await r.credentials(target);
      expect(far.seen.map((s) => s.method)).toEqual(["POST"]);
    } finally {
      await far.close();
    }
  });

  it("a registration_client_uri off the registration endpoint's origin is never sent the secrets: registered anew instead", async () => {
    const elsewhere = await stubAs(true, 3600);
    const stub = await stubAs(true, 120, () => elsewhere.meta.issuer);
    try {
      const r = new UpstreamRegistrar({ store: new MemoryDcrCredentialStore(), locks: new MemoryLocks(), clientName: "Tollgate", onReregistered: async () => undefined });
      const target = { metadata: stub.meta, key: newKey(stub.meta.issuer), scopes: [] };
      await r.credentials(target);
      const second = await r.credentials(target);
      expect(second.clientId).toBe("client-2");
      expect(stub.seen.map((s) => s.method)).toEqual(["POST", "POST"]);
      expect(elsewhere.seen).toEqual([]);
    } finally {
      await Promise.all([stub.close(), elsewhere.close()]);
    }
  });

  it("without management, a secret near expiry means a new registration and the reconnect hook", async () => {
    const stub = await stubAs(false, 120);
    try {
      const hook: Parameters<ReregisteredHook>[0][] = [];
      const r = new UpstreamRegistrar({ store: new MemoryDcrCredentialStore(), locks: new MemoryLocks(), clientName: "Tollgate", onReregistered: async (e) => void hook.push(e) });
      const target = { metadata: stub.meta, key: newKey(stub.meta.issuer), scopes: [] };
      await r.credentials(target);
      const second = await r.credentials(target);
      expect(second.clientId).toBe("client-2");
      expect(stub.seen.map((s) => s.method)).toEqual(["POST", "POST"]);
      expect(hook).toEqual([{ key: target.key, previousClientId: "client-1", clientId: "client-2" }]);
    } finally {
      await stub.close();
    }
  });
});
