// The connect flow's core against real parts: oidc-provider as the upstream's authorization server
// (registration, PKCE, resource indicators, refresh-token rotation, revocation), the SDK-built
// upstream MCP server checking the tokens, replicas sharing a real redis-server for the locks.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors.js";
import { MemoryDcrCredentialStore } from "../../src/stores/memory/dcr-credential-store.js";
import { MemoryUpstreamTokenStore } from "../../src/stores/memory/upstream-token-store.js";
import { UpstreamConnector, type ConnectingUser, type OauthUpstream } from "../../src/upstreams/connect.js";
import { UpstreamAuthDiscovery, type UpstreamAuthMetadata } from "../../src/upstreams/discovery.js";
import { RedisLocks } from "../../src/upstreams/locks.js";
import { UpstreamRegistrar } from "../../src/upstreams/registration.js";
import { startRedis, type RedisServer } from "../support/servers.js";
import { startUpstreamAs, startUpstreamMcp, UPSTREAM_SCOPE, walkToCallback, type UpstreamAs, type UpstreamMcp } from "../support/upstream-oauth.js";

const PUBLIC_URL = "http://127.0.0.1:9";
let as: UpstreamAs;
let mcp: UpstreamMcp;
let redis: RedisServer;
let upstream: OauthUpstream;
const clients: Redis[] = [];
const dcr = new MemoryDcrCredentialStore();
/** The tokens of every (user, upstream), shared by the test's replicas as a database would be. */
const tokens = new MemoryUpstreamTokenStore();
let clockOffsetMs = 0;

beforeAll(async () => {
  [as, redis] = await Promise.all([startUpstreamAs(), startRedis()]);
  mcp = await startUpstreamMcp(as);
  upstream = { name: "docs", url: new URL(mcp.url), scopes: [] };
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await mcp?.close();
  await as?.close();
  await redis?.stop();
});

/** One replica: its own discovery cache, Redis connection, registrar and connector; the stores shared. */
function replica(): UpstreamConnector {
  const client = new Redis(redis.url);
  clients.push(client);
  const locks = new RedisLocks(client, { namespace: "connect" });
  const registrar = new UpstreamRegistrar({ store: dcr, locks, clientName: "Tollgate", onReregistered: async () => undefined });
  return new UpstreamConnector({ discovery: new UpstreamAuthDiscovery({ plainLoopback: true }), registrar, tokens, locks, publicUrl: PUBLIC_URL, now: () => Date.now() + clockOffsetMs });
}

const session = (userId: string): ConnectingUser => ({ userId, sessionId: randomBytes(16).toString("base64url") });

/** The whole browser round trip: begin, the authorization server signing in `upstreamUser`, the callback's query. */
async function authorize(connector: UpstreamConnector, user: ConnectingUser, upstreamUser: string) {
  const { location, pending } = await connector.begin(upstream, user);
  as.signInAs(upstreamUser);
  const callback = await walkToCallback(location, connector.redirectUri(upstream.name));
  return { location: new URL(location), pending, answer: Object.fromEntries(callback.searchParams) };
}

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RequestError);
  expect((err as RequestError).code).toBe("invalid_request");
  expect((err as RequestError).message).toMatch(message);
}

describe("UpstreamConnector", () => {
  it("begin asks for a code with PKCE S256, the upstream as resource and offline_access; complete stores tokens the upstream accepts", async () => {
    const connector = replica();
    const alice = session("alice");
    const { location, pending, answer } = await authorize(connector, alice, "upstream-alice");
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ response_type: "code", code_challenge_method: "S256", resource: mcp.url, redirect_uri: `${PUBLIC_URL}/oauth/upstream/docs/callback`, state: pending.state });
    expect(location.searchParams.get("scope")!.split(" ").sort()).toEqual(["mcp:tools", "offline_access"]);
    expect(answer.iss).toBe(as.issuer);
    const started = Date.now();
    await connector.complete(upstream, alice, answer, pending);
    const stored = await tokens.get("alice", "docs");
    expect(stored?.refreshToken).toBeTruthy();
    expect(stored!.connectedAt).toBeGreaterThanOrEqual(started);
    expect(stored!.connectedAt).toBeLessThanOrEqual(Date.now());
    const access = await connector.access(upstream, "alice");
    expect(access).toEqual({ kind: "token", accessToken: stored!.accessToken });
    const res = await fetch(mcp.url, { method: "POST", headers: { authorization: `Bearer ${stored!.accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
    expect(res.status).toBe(200);
    expect(mcp.calls.at(-1)?.sub).toBe("upstream-alice");
  });

  it("the answer is refused for another user, another browser session of the same user, a forged state or a wrong iss", async () => {
    const connector = replica();
    const bob = session("bob");
    const { pending, answer } = await authorize(connector, bob, "upstream-bob");
    await refused(connector.complete(upstream, session("mallory"), answer, { ...pending, userId: "mallory" }), /another user or another browser session/);
    await refused(connector.complete(upstream, session("bob"), answer, pending), /another user or another browser session/);
    const nonce = pending.state.split(".")[0]!;
    await refused(connector.complete(upstream, bob, { ...answer, state: `${nonce}.forged` }, { ...pending, state: `${nonce}.forged` }), /another user or another browser session/);
    await refused(connector.complete(upstream, bob, answer, null), /state does not match/);
    await refused(connector.complete(upstream, bob, { ...answer, iss: "https://evil.example" }, pending), /iss/);
    await refused(connector.complete(upstream, bob, { state: answer.state, iss: answer.iss }, pending), /no code/);
    expect(await tokens.get("bob", "docs")).toBeNull();
  });

  it("expired tokens are refreshed once across three replicas asking together (the rotated refresh token is not spent twice)", async () => {
    const first = replica();
    const carol = session("carol");
    const { pending, answer } = await authorize(first, carol, "upstream-carol");
    await first.complete(upstream, carol, answer, pending);
    const before = (await tokens.get("carol", "docs"))!;
    clockOffsetMs = 2 * 3600_000;
    try {
      const got = await Promise.all([first, replica(), replica()].map((r) => r.access(upstream, "carol")));
      const after = (await tokens.get("carol", "docs"))!;
      expect(after.accessToken).not.toBe(before.accessToken);
      expect(after.refreshToken).not.toBe(before.refreshToken);
      // A refresh is not a new connection: the tokens page still shows when the user connected.
      expect(after.connectedAt).toBe(before.connectedAt);
      expect(before.connectedAt).toBeDefined();
      for (const g of got) expect(g).toEqual({ kind: "token", accessToken: after.accessToken });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("a refresh slower than the old 15 s lock (discovery, a registration wait) is still not run by a second replica", { timeout: 90_000 }, async () => {
    const first = replica();
    const mia = session("mia");
    const { pending, answer } = await authorize(first, mia, "upstream-mia");
    await first.complete(upstream, mia, answer, pending);
    const before = (await tokens.get("mia", "docs"))!;
    // A replica whose refresh is slow before it sends the refresh token (here its discovery: 16 s).
    const client = new Redis(redis.url);
    clients.push(client);
    const locks = new RedisLocks(client, { namespace: "connect" });
    const registrar = new UpstreamRegistrar({ store: dcr, locks, clientName: "Tollgate", onReregistered: async () => undefined });
    const fast = new UpstreamAuthDiscovery({ plainLoopback: true });
    const slowDiscovery = new UpstreamAuthDiscovery({ discover: async (u) => (await new Promise((r) => setTimeout(r, 16_000)), fast.metadata(u)) });
    const slow = new UpstreamConnector({ discovery: slowDiscovery, registrar, tokens, locks, publicUrl: PUBLIC_URL, now: () => Date.now() + 2 * 3600_000 });
    const other = new UpstreamConnector({ discovery: new UpstreamAuthDiscovery({ plainLoopback: true }), registrar, tokens, locks, publicUrl: PUBLIC_URL, now: () => Date.now() + 2 * 3600_000 });
    const slowAccess = slow.access(upstream, "mia");
    await new Promise((r) => setTimeout(r, 1_000));
    const otherAccess = other.access(upstream, "mia");
    const [a, b] = await Promise.all([slowAccess, otherAccess]);
    const after = await tokens.get("mia", "docs");
    // Had the other replica taken the expired lock, one of them would have spent the rotated refresh token twice: reconnect.
    expect(after).not.toBeNull();
    expect(after!.refreshToken).not.toBe(before.refreshToken);
    expect(a).toEqual({ kind: "token", accessToken: after!.accessToken });
    expect(b).toEqual({ kind: "token", accessToken: after!.accessToken });
  });

  it("a refresh the authorization server refuses asks the user to reconnect and drops the tokens", async () => {
    const connector = replica();
    const metadata = await new UpstreamAuthDiscovery({ plainLoopback: true }).metadata(mcp.url);
    await tokens.put("dave", "docs", { accessToken: "old", refreshToken: "not-a-refresh-token", expiresAt: Date.now() - 1000, scopes: [UPSTREAM_SCOPE], clientId: (await dcr.get((await firstKey()))).clientId, issuer: metadata.issuer, tokenEndpoint: metadata.tokenEndpoint });
    expect(await connector.access(upstream, "dave")).toEqual({ kind: "reconnect" });
    expect(await tokens.get("dave", "docs")).toBeNull();
    expect(await connector.access(upstream, "dave")).toEqual({ kind: "not_connected" });
  });

  it("disconnect revokes at the upstream (RFC 7009) and deletes; the refresh token no longer works", async () => {
    const connector = replica();
    const erin = session("erin");
    const { pending, answer } = await authorize(connector, erin, "upstream-erin");
    await connector.complete(upstream, erin, answer, pending);
    const held = (await tokens.get("erin", "docs"))!;
    const revocations = as.revocations();
    expect(await connector.disconnect(upstream, "erin")).toBe(true);
    expect(as.revocations() - revocations).toBe(1);
    expect(await tokens.get("erin", "docs")).toBeNull();
    expect(await connector.disconnect(upstream, "erin")).toBe(false);
    // Put back, the revoked refresh token is refused: reconnect.
    await tokens.put("erin", "docs", { ...held, expiresAt: Date.now() - 1000 });
    expect(await connector.access(upstream, "erin")).toEqual({ kind: "reconnect" });
  });

  describe("tokens go back only to the authorization server that issued them", () => {
    let evil: Server;
    let evilUrl: string;
    const seen: string[] = [];
    beforeAll(async () => {
      // Answers every request as a token endpoint would, and remembers what it was sent.
      evil = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          seen.push(`${req.method} ${req.url} ${body}`);
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: "evil-at", token_type: "Bearer", expires_in: 3600, refresh_token: "evil-rt" }));
        });
      });
      await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
      evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => evil.close(() => resolve())));

    /**
     * A replica whose discovery now names another authorization server (the upstream's metadata
     * changed, or lies), at which Tollgate's registration carries the very client_id the user's
     * tokens were issued to (an evil server answers registration with it).
     */
    async function hijacked(clientId: string): Promise<UpstreamConnector> {
      const real = await new UpstreamAuthDiscovery({ plainLoopback: true }).metadata(mcp.url);
      const metadata: UpstreamAuthMetadata = { ...real, issuer: evilUrl, tokenEndpoint: `${evilUrl}/token`, revocationEndpoint: `${evilUrl}/revoke`, authorizationEndpoint: `${evilUrl}/authorize` };
      const key = { ...(await firstKey()), issuer: evilUrl };
      await dcr.put({ ...(await dcr.get(await firstKey())), key, clientId, tokenEndpoint: metadata.tokenEndpoint, authorizationEndpoint: metadata.authorizationEndpoint });
      const client = new Redis(redis.url);
      clients.push(client);
      const locks = new RedisLocks(client, { namespace: "connect" });
      const registrar = new UpstreamRegistrar({ store: dcr, locks, clientName: "Tollgate", onReregistered: async () => undefined });
      return new UpstreamConnector({ discovery: new UpstreamAuthDiscovery({ discover: async () => metadata }), registrar, tokens, locks, publicUrl: PUBLIC_URL, now: () => Date.now() + clockOffsetMs });
    }

    it("records the issuer and token endpoint with the tokens", async () => {
      const connector = replica();
      const grace = session("grace");
      const { pending, answer } = await authorize(connector, grace, "upstream-grace");
      expect(pending.issuer).toBe(as.issuer);
      await connector.complete(upstream, grace, answer, pending);
      const metadata = await new UpstreamAuthDiscovery({ plainLoopback: true }).metadata(mcp.url);
      expect(await tokens.get("grace", "docs")).toMatchObject({ issuer: as.issuer, tokenEndpoint: metadata.tokenEndpoint });
    });

    it("a refresh under a discovery naming another server sends nothing, drops the tokens and asks to reconnect", async () => {
      const first = replica();
      const heidi = session("heidi");
      const { pending, answer } = await authorize(first, heidi, "upstream-heidi");
      await first.complete(upstream, heidi, answer, pending);
      const held = (await tokens.get("heidi", "docs"))!;
      await tokens.put("heidi", "docs", { ...held, expiresAt: Date.now() - 1000 });
      seen.length = 0;
      expect(await (await hijacked(held.clientId)).access(upstream, "heidi")).toEqual({ kind: "reconnect" });
      expect(seen).toEqual([]);
      expect(await tokens.get("heidi", "docs")).toBeNull();
    });

    it("a disconnect under a discovery naming another server revokes nothing there and deletes", async () => {
      const first = replica();
      const ivan = session("ivan");
      const { pending, answer } = await authorize(first, ivan, "upstream-ivan");
      await first.complete(upstream, ivan, answer, pending);
      const held = (await tokens.get("ivan", "docs"))!;
      seen.length = 0;
      expect(await (await hijacked(held.clientId)).disconnect(upstream, "ivan")).toBe(true);
      expect(seen).toEqual([]);
      expect(await tokens.get("ivan", "docs")).toBeNull();
    });

    it("a callback after discovery changed servers is refused before the code is sent anywhere", async () => {
      const first = replica();
      const judy = session("judy");
      const { pending, answer } = await authorize(first, judy, "upstream-judy");
      seen.length = 0;
      const connector = await hijacked((await dcr.get(await firstKey())).clientId);
      await refused(connector.complete(upstream, judy, { ...answer, iss: evilUrl }, pending), /authorization server changed/);
      expect(seen).toEqual([]);
      expect(await tokens.get("judy", "docs")).toBeNull();
    });

    it("tokens stored without an issuer (before it was recorded) are dropped at refresh: reconnect, nothing sent", async () => {
      const { issuer: _i, tokenEndpoint: _t, ...legacy } = { ...(await tokens.get("grace", "docs"))!, expiresAt: Date.now() - 1000 };
      await tokens.put("kim", "docs", legacy);
      const revocations = as.revocations();
      expect(await replica().access(upstream, "kim")).toEqual({ kind: "reconnect" });
      expect(await tokens.get("kim", "docs")).toBeNull();
      expect(as.revocations()).toBe(revocations);
    });
  });

  it("an upstream's 401 forgets the user's tokens when they are still the ones refused (not a newer pair)", async () => {
    const connector = replica();
    const metadata = await new UpstreamAuthDiscovery({ plainLoopback: true }).metadata(mcp.url);
    await tokens.put("lena", "docs", { accessToken: "newer", scopes: [], clientId: "c", issuer: metadata.issuer, tokenEndpoint: metadata.tokenEndpoint });
    await connector.rejected(upstream, "lena", "older");
    expect((await tokens.get("lena", "docs"))?.accessToken).toBe("newer");
    await connector.rejected(upstream, "lena", "newer");
    expect(await tokens.get("lena", "docs")).toBeNull();
  });

  it("the authorization server down: begin is upstream_auth_unavailable (503)", async () => {
    as.setUp(false);
    try {
      const err = await replica().begin({ name: "other", url: new URL(mcp.url), scopes: [] }, session("frank")).then(() => null, (e: unknown) => e);
      expect((err as RequestError).code).toBe("upstream_auth_unavailable");
    } finally {
      as.setUp(true);
    }
  });
});

/** The key the tests' one registration is stored under (as the connector computes it). */
async function firstKey() {
  const { scopesHash } = await import("../../src/upstreams/scopes-hash.js");
  return { issuer: as.issuer, redirectUri: `${PUBLIC_URL}/oauth/upstream/docs/callback`, scopesHash: scopesHash([UPSTREAM_SCOPE, "offline_access"]) };
}
